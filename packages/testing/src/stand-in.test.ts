import { afterEach, describe, expect, it } from 'vitest';
import { MovableInkStandIn, messageIdsIn } from './stand-in.js';

describe('messageIdsIn', () => {
  it('reads the message_id of a single payload and of every payload of an envelope', () => {
    expect(messageIdsIn(JSON.stringify({ message_id: 'a', event: 'x', properties: { note: 'say "message_id":"no"' } }))).toEqual(['a']);
    expect(messageIdsIn(JSON.stringify({ events: [{ message_id: 'a' }, { user_id: 'u', message_id: 'b' }] }))).toEqual(['a', 'b']);
    expect(messageIdsIn('{}')).toEqual([]);
    expect(messageIdsIn('{"message_id":"unterminated')).toEqual([]);
  });
});

describe('MovableInkStandIn, lean (benchmark) mode', () => {
  let standIn: MovableInkStandIn | undefined;
  afterEach(async () => {
    await standIn?.stop();
    standIn = undefined;
  });

  it('hands over the ids of answered 2xx requests only, and answers what the responder says', async () => {
    const seen: string[] = [];
    standIn = new MovableInkStandIn({ record: false, onMessageIds: (ids) => seen.push(...ids) });
    let down = false;
    standIn.respondWith(() => (down ? { status: 503 } : { status: 200 }));
    const url = await standIn.start();
    const post = (body: unknown) => fetch(`${url}/behavioral/x`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    expect((await post({ message_id: 'm1', user_id: 'u' })).status).toBe(200);
    expect((await post({ events: [{ message_id: 'm2' }, { message_id: 'm3' }] })).status).toBe(200);
    down = true;
    expect((await post({ message_id: 'm4' })).status).toBe(503);
    expect(seen).toEqual(['m1', 'm2', 'm3']);
    expect(standIn.count).toBe(3);
    expect(standIn.requests).toEqual([]);
  });
});
