import { describe, expect, it } from 'vitest';
import { encodeJson } from '@inkstream/bus';
import type { IngestedRecord, IngestedSegment } from '@inkstream/contracts';
import { readRecords } from './read-recent-records.js';

describe('readRecords', () => {
  const event = { event_type: 'Product Viewed', user_id: 'user-1' };

  it('reads every record of a v2 segment, in order, and a v1 record as one', () => {
    const segment: IngestedSegment = {
      v: 2,
      projectId: 'p1',
      receivedAt: 1,
      records: [
        { kind: 'event', eventKey: 'i:a', userKey: 'user-1', event },
        { kind: 'identify', eventKey: 'i:b', userKey: 'user-1', event: { event_type: '$identify', user_id: 'user-1' } },
      ],
    };
    expect(readRecords(encodeJson(segment)).map((r) => [r.projectId, r.receivedAt, r.kind, r.eventKey])).toEqual([
      ['p1', 1, 'event', 'i:a'],
      ['p1', 1, 'identify', 'i:b'],
    ]);
    const v1: IngestedRecord = { v: 1, kind: 'event', projectId: 'p2', receivedAt: 2, eventKey: 'i:c', userKey: 'user-1', event };
    expect(readRecords(encodeJson(v1))).toEqual([v1]);
  });

  it('reads nothing from a message that is neither', () => {
    expect(readRecords(new TextEncoder().encode('not json'))).toEqual([]);
    expect(readRecords(encodeJson({ v: 3, projectId: 'p1' }))).toEqual([]);
    expect(readRecords(encodeJson({ v: 2, projectId: 'p1', receivedAt: 1, records: [] }))).toEqual([]);
  });
});
