import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { BodyAbortedError, discardBody, readBodyWithin, type ReadBodyOptions } from './body-intake.js';

const limits = { maxDiscardBytes: 1000, timeoutMs: 60_000 };

/** A body stream that delivers `chunks` (sizes) one after the other, then ends. */
function body(chunks: number[], end = true): PassThrough & { consumed: () => number } {
  const stream = new PassThrough() as PassThrough & { consumed: () => number };
  let consumed = 0;
  stream.on('data', (c: Buffer) => (consumed += c.length));
  stream.consumed = () => consumed;
  stream.pause();
  setImmediate(() => {
    for (const size of chunks) stream.write(Buffer.alloc(size, 0x61));
    if (end) stream.end();
  });
  return stream;
}

const options = (over: Partial<ReadBodyOptions> = {}): ReadBodyOptions => ({ ...limits, limit: 100, declaredLength: undefined, reserve: () => true, ...over });

describe('readBodyWithin', () => {
  it.each([
    { label: 'a body within the limit', chunks: [40, 60], declared: 100, outcome: { kind: 'body' } },
    { label: 'chunked, within the limit', chunks: [40, 60], declared: undefined, outcome: { kind: 'body' } },
    { label: 'declared over the limit: read to its end, refused', chunks: [300, 300], declared: 600, outcome: { kind: 'refused', reason: 'too-large', drained: true } },
    { label: 'chunked past the limit: read to its end, refused', chunks: [60, 60, 300], declared: undefined, outcome: { kind: 'refused', reason: 'too-large', drained: true } },
    { label: 'declared past what is worth discarding: not read', chunks: [], declared: 5000, outcome: { kind: 'refused', reason: 'too-large', drained: false } },
    { label: 'chunked past what is worth discarding: given up', chunks: [600, 600], declared: undefined, outcome: { kind: 'refused', reason: 'too-large', drained: false } },
  ])('$label', async ({ chunks, declared, outcome }) => {
    const stream = body(chunks);
    const result = await readBodyWithin(stream, options({ declaredLength: declared }));
    expect(result).toMatchObject(outcome);
    if (result.kind === 'body') expect(result.bytes.length).toBe(chunks.reduce((a, b) => a + b, 0));
  });

  it('refuses when the in-flight budget has no room, reserving the declared length up front', async () => {
    const asked: number[] = [];
    const result = await readBodyWithin(body([50]), options({ declaredLength: 50, reserve: (n) => (asked.push(n), false) }));
    expect(result).toEqual({ kind: 'refused', reason: 'over-capacity', drained: true });
    expect(asked).toEqual([50]);
  });

  it('without a declared length reserves chunk by chunk and refuses at the first that does not fit', async () => {
    let room = 70;
    const result = await readBodyWithin(body([30, 30, 30]), options({ reserve: (n) => (n <= room ? ((room -= n), true) : false) }));
    expect(result).toEqual({ kind: 'refused', reason: 'over-capacity', drained: true });
  });

  it('a body that stops arriving is answered at the timeout', async () => {
    const result = await readBodyWithin(body([10], false), options({ timeoutMs: 50 }));
    expect(result).toEqual({ kind: 'refused', reason: 'timeout', drained: false });
  });

  it('a body shorter than its Content-Length is a client error', async () => {
    await expect(readBodyWithin(body([10]), options({ declaredLength: 20 }))).rejects.toBeInstanceOf(BodyAbortedError);
  });

  it.each([-1, 1.5, Number.NaN])('an invalid Content-Length (%s) is a client error', async (declaredLength) => {
    await expect(readBodyWithin(body([10]), options({ declaredLength }))).rejects.toBeInstanceOf(BodyAbortedError);
  });

  it('a client that goes away mid-body is a client error (400), not a crash', async () => {
    const stream = body([10], false);
    setTimeout(() => stream.destroy(new Error('aborted')), 20);
    const err = await readBodyWithin(stream, options()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BodyAbortedError);
    expect((err as BodyAbortedError).statusCode).toBe(400);
  });
});

describe('discardBody', () => {
  it('reads a body to its end without keeping it', async () => {
    const stream = body([400, 400]);
    expect(await discardBody(stream, limits, 800)).toBe(true);
    expect(stream.consumed()).toBe(800);
  });

  it('an empty body is drained at once', async () => {
    expect(await discardBody(body([]), limits, undefined)).toBe(true);
  });

  it('gives up past maxDiscardBytes', async () => {
    expect(await discardBody(body([800, 800]), limits, undefined)).toBe(false);
    expect(await discardBody(body([]), limits, 5000)).toBe(false);
  });
});
