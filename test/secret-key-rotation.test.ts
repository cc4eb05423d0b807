import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MovableInkStandIn, Stack, waitFor } from '@inkstream/testing';

/**
 * Changing SECRET_KEY on a running installation (services/config/README.md, "Secrets and
 * SECRET_KEY"): config and delivery restarted with the new key and SECRET_KEY_PREVIOUS keep
 * delivering with the stored credentials; config re-seals them; then the old key can go.
 */
describe('SECRET_KEY rotation across config and delivery', () => {
  const stack = new Stack();
  const standIn = new MovableInkStandIn();
  const newKey = randomBytes(32).toString('hex');
  let apiKey: string;
  let syncId: string;
  let sent = 0;

  beforeAll(async () => {
    const endpoint = await standIn.start();
    await stack.start();
    ({ apiKey, syncId } = await stack.createEnabledSync('Rotation', {
      name: 'Movable Ink',
      endpointUrl: `${endpoint}/behavioral/rotation`,
      authorization: 'Basic cm90YXRpb246a2V5',
      eventFilters: [{ eventType: '*' }],
    }));
  });
  afterAll(async () => {
    await stack.stop();
    await standIn.stop();
  });

  /** Sends one event and waits until the stand-in has it, with the sync's authorization. */
  const deliversOne = async (label: string) => {
    sent += 1;
    const insertId = `rotation-${sent}`;
    const res = await fetch(stack.url('ingest', '/2/httpapi'), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ api_key: apiKey, events: [{ user_id: 'user-rotation', event_type: label, insert_id: insertId }] }),
    });
    expect(res.status).toBe(200);
    const request = await waitFor(
      () => standIn.requests.find((r) => (r.json as { event?: string } | undefined)?.event === label),
      `the "${label}" event to be delivered`,
      60_000,
      100,
    );
    expect(request.headers.authorization).toBe('Basic cm90YXRpb246a2V5');
  };

  it('keeps delivering through the rotation, and the old key is not needed afterwards', async () => {
    await deliversOne('before');
    const before = await stack.admin<{ version: number }>('GET', `/v1/syncs/${syncId}`);

    // Step 1: the new key, the old one as SECRET_KEY_PREVIOUS. Delivery first: it must open both.
    stack.setEnv({ SECRET_KEY: newKey, SECRET_KEY_PREVIOUS: stack.secretKey });
    await stack.restartService('delivery');
    await deliversOne('delivery on both keys');
    await stack.restartService('config');
    expect(stack.logs.config.join('\n')).toContain('SECRET_KEY rotation');
    const resealed = await stack.admin<{ version: number }>('GET', `/v1/syncs/${syncId}`);
    expect(resealed.body.version).toBe(before.body.version + 1);
    const history = await stack.admin<Array<{ actor: string; changes: Record<string, unknown> }>>('GET', `/v1/syncs/${syncId}/history`);
    expect(history.body.at(-1)).toMatchObject({ actor: 'system (SECRET_KEY rotation)', changes: { authorization: expect.anything() } });
    // Delivery learns the re-sealed snapshot through NATS.
    await waitFor(async () => (await stack.metric('delivery', 'inkstream_config_syncs', { active: 'true' })) >= 1, 'delivery to keep the sync');
    await deliversOne('after the re-seal');

    // Step 2: the new key alone, on both; the api key and the credentials still work.
    stack.setEnv({ SECRET_KEY: newKey, SECRET_KEY_PREVIOUS: '' });
    await stack.restartService('config');
    await stack.restartService('delivery');
    const projects = await stack.admin<Array<{ apiKey: string | null }>>('GET', '/v1/projects');
    expect(projects.body.map((p) => p.apiKey)).toEqual([apiKey]);
    await deliversOne('new key only');
    expect(stack.logs.delivery.join('\n')).not.toContain('cannot decrypt the sync authorization');

    // And the old key alone is now refused by config at start.
    stack.setEnv({ SECRET_KEY: stack.secretKey });
    await stack.stopService('config');
    stack.spawn('config');
    await expect(stack.waitReady('config')).rejects.toThrow(/SECRET_KEY does not open any of the 2 secrets/);
    stack.setEnv({ SECRET_KEY: newKey });
    await stack.restartService('config');
  });
});
