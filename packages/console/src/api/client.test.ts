import { afterEach, describe, expect, it, vi } from 'vitest';
import { Api, ApiError, tokenAccepted } from './client.js';

const answer = (status: number, body?: unknown) =>
  vi.fn(async () => new Response(body === undefined ? null : typeof body === 'string' ? body : JSON.stringify(body), { status }));

describe('Api', () => {
  afterEach(() => vi.unstubAllGlobals());

  it('sends the token in the Authorization header only, and JSON bodies', async () => {
    const fetch = answer(200, { id: 'p' });
    vi.stubGlobal('fetch', fetch);
    expect(await new Api('s3cret').request('PATCH', '/v1/syncs/x', { name: 'A' }, { 'if-match': '3' })).toEqual({ id: 'p' });
    const [url, init] = fetch.mock.calls[0] as unknown as [string, RequestInit];
    expect(url).toBe('/v1/syncs/x');
    expect(url).not.toContain('s3cret');
    expect(init.headers).toEqual({ authorization: 'Bearer s3cret', 'content-type': 'application/json', 'if-match': '3' });
    expect(init.body).toBe('{"name":"A"}');
  });

  it.each([
    [400, { statusCode: 400, error: 'Bad Request', message: 'body/endpointUrl must match format "uri"' }, 'body/endpointUrl must match format "uri"'],
    [409, { message: 'sync x is at version 4, not 3' }, 'sync x is at version 4, not 3'],
    [502, '<html>bad gateway</html>', 'HTTP 502'],
    [500, undefined, 'HTTP 500'],
  ])('turns a %i answer into an ApiError with its message', async (status, body, message) => {
    vi.stubGlobal('fetch', answer(status, body));
    const err = await new Api('t').get('/v1/projects').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ status, message });
  });

  it('answers 204 with nothing', async () => {
    vi.stubGlobal('fetch', answer(204));
    expect(await new Api('t').request('DELETE', '/v1/projects/p')).toBeUndefined();
  });

  it('signs out on a 401 and says when the service cannot be reached', async () => {
    vi.stubGlobal('fetch', answer(401, { message: 'missing or wrong admin token' }));
    const onUnauthorized = vi.fn();
    await expect(new Api('t', onUnauthorized).get('/v1/projects')).rejects.toMatchObject({ status: 401 });
    expect(onUnauthorized).toHaveBeenCalledTimes(1);

    vi.stubGlobal('fetch', vi.fn(async () => Promise.reject(new TypeError('Failed to fetch'))));
    await expect(new Api('t').get('/v1/projects')).rejects.toMatchObject({ status: 0, message: expect.stringContaining('cannot be reached') });
  });

  it('checks a token: false for 401, an error for anything else', async () => {
    vi.stubGlobal('fetch', answer(200, []));
    expect(await tokenAccepted('good')).toBe(true);
    vi.stubGlobal('fetch', answer(401, { message: 'no' }));
    expect(await tokenAccepted('bad')).toBe(false);
    vi.stubGlobal('fetch', answer(503, { message: 'the database is unavailable; try again shortly' }));
    await expect(tokenAccepted('good')).rejects.toMatchObject({ message: 'the database is unavailable; try again shortly' });
  });
});
