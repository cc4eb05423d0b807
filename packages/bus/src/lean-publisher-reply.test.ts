import { describe, expect, it } from 'vitest';
import { JetStreamApiError } from '@nats-io/jetstream';
import { interpretPubAckReply, NoStreamForSubjectError } from './lean-publisher-reply.js';

const bytes = (s: string) => new TextEncoder().encode(s);

describe('interpretPubAckReply', () => {
  const cases: Array<{ name: string; data: string; status?: { code: number; description: string }; expect: object | RegExp; cls?: Function; code?: number }> = [
    { name: 'an acknowledgement', data: '{"stream":"S","seq":7}', expect: { stream: 'S', seq: 7, duplicate: false } },
    { name: 'a duplicate', data: '{"stream":"S","seq":7,"duplicate":true}', expect: { stream: 'S', seq: 7, duplicate: true } },
    { name: 'no responders (no stream)', data: '', status: { code: 503, description: '' }, expect: /no responders/, cls: NoStreamForSubjectError },
    { name: 'another status without a body', data: '', status: { code: 408, description: 'Request Timeout' }, expect: /Request Timeout/, cls: JetStreamApiError },
    {
      name: 'message too large for the stream (10054)',
      data: '{"error":{"code":400,"err_code":10054,"description":"message size exceeds maximum allowed"}}',
      expect: /message size exceeds maximum/,
      cls: JetStreamApiError,
      code: 10054,
    },
    {
      name: 'wrong last sequence (10071)',
      data: '{"error":{"code":400,"err_code":10071,"description":"wrong last sequence: 3"}}',
      expect: /wrong last sequence/,
      cls: JetStreamApiError,
      code: 10071,
    },
    { name: 'an error without fields', data: '{"error":{}}', expect: /refused/, cls: JetStreamApiError },
    { name: 'not JSON', data: 'nope', expect: /unreadable/ },
    { name: 'JSON without a stream', data: '{"seq":1}', expect: /invalid JetStream acknowledgement/ },
    { name: 'an empty stream name', data: '{"stream":"","seq":1}', expect: /invalid JetStream acknowledgement/ },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const verdict = interpretPubAckReply('a.b', bytes(c.data), c.status);
      if (c.expect instanceof RegExp) {
        expect('error' in verdict).toBe(true);
        const err = (verdict as { error: Error }).error;
        expect(err.message).toMatch(c.expect);
        if (c.cls) expect(err).toBeInstanceOf(c.cls);
        if (c.code !== undefined) expect((err as JetStreamApiError).code).toBe(c.code);
      } else {
        expect(verdict).toEqual({ ack: c.expect });
      }
    });
  }
});
