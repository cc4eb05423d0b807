import { describe, expect, it } from 'vitest';
import { backlogVerdict, type BacklogLimits, type BacklogSnapshot } from './backlog-verdict.js';

const limits: BacklogLimits = { maxMessages: 100, maxStreamBytes: 10_000, maxAgeMs: 7000 };
const NOW = 1_000_000;
const at = (messages: number, streamBytes: number, age = 0): BacklogSnapshot => ({ messages, streamBytes, readAt: NOW - age });

describe('backlogVerdict', () => {
  it.each<{ label: string; snapshot: BacklogSnapshot | undefined; limits?: Partial<BacklogLimits>; verdict: ReturnType<typeof backlogVerdict> }>([
    { label: 'not read yet', snapshot: undefined, verdict: { admit: true } },
    { label: 'under both bounds', snapshot: at(99, 9_999), verdict: { admit: true } },
    { label: 'at the message bound', snapshot: at(100, 0), verdict: { admit: true } },
    { label: 'over the message bound', snapshot: at(101, 0), verdict: { admit: false, reason: 'backlog' } },
    { label: 'over the byte bound', snapshot: at(0, 10_001), verdict: { admit: false, reason: 'stream_bytes' } },
    { label: 'over both: the backlog is named', snapshot: at(500, 50_000), verdict: { admit: false, reason: 'backlog' } },
    { label: 'message bound off (0)', snapshot: at(10 ** 9, 0), limits: { maxMessages: 0 }, verdict: { admit: true } },
    { label: 'byte bound off (0)', snapshot: at(0, 10 ** 12), limits: { maxStreamBytes: 0 }, verdict: { admit: true } },
    { label: 'over, but read too long ago to trust', snapshot: at(500, 0, 7001), verdict: { admit: true } },
    { label: 'over, read just within the age', snapshot: at(500, 0, 7000), verdict: { admit: false, reason: 'backlog' } },
  ])('$label', ({ snapshot, limits: changed, verdict }) => {
    expect(backlogVerdict(snapshot, { ...limits, ...changed }, NOW)).toEqual(verdict);
  });
});
