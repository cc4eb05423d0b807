import { describe, expect, it } from 'vitest';
import type { JsMsg } from '@inkstream/bus';
import { waitFor } from '@inkstream/testing';
import { StoredAcks } from './stored-acks.js';

function fakeMsg(seq: number) {
  const calls: string[] = [];
  const msg = {
    seq,
    ack: () => calls.push('ack'),
    nak: () => calls.push('nak'),
    working: () => calls.push('working'),
  } as unknown as JsMsg;
  return { msg, calls };
}

describe('StoredAcks', () => {
  it('acks a message only once its write is stored, keeps it alive meanwhile, and hands a failed one to onFailed', async () => {
    const acks = new StoredAcks(10);
    let store!: () => void;
    let fail!: (err: unknown) => void;
    const a = fakeMsg(1);
    const b = fakeMsg(2);
    acks.add(a.msg, new Promise<void>((r) => (store = r)), () => a.calls.push('failed'));
    acks.add(b.msg, new Promise<void>((_r, j) => (fail = j)), (err) => b.calls.push(`failed ${String(err)}`));
    expect(acks.size).toBe(2);
    await waitFor(() => a.calls.includes('working') && b.calls.includes('working'), 'heartbeats');
    expect(a.calls).not.toContain('ack');
    store();
    fail(new Error('conflict'));
    await acks.drain();
    expect(acks.size).toBe(0);
    expect(a.calls.filter((c) => c !== 'working')).toEqual(['ack']);
    expect(b.calls.filter((c) => c !== 'working')).toEqual(['failed Error: conflict']);
  });
});
