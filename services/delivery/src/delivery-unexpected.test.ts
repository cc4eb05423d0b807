import { describe, expect, it } from 'vitest';
import { waitFor } from '@inkstream/testing';
import { useDeliveryHarness } from './testing/delivery-harness.js';
import { captureLogs } from './testing/logs.js';

/**
 * A payload whose handling fails unexpectedly (not an answer, not a store outage: a bug, say) is
 * neither lost nor left holding its user: it is logged and handled again, and its user's later
 * payloads follow it in order. Real NATS, a stand-in endpoint.
 */
describe('a payload whose handling fails unexpectedly', () => {
  const { lines, log } = captureLogs('error');
  const h = useDeliveryHarness({ baseMs: 100, capMs: 300 }, { logger: log });

  for (const batchSize of [1, 5]) {
    it(`is handled again and delivered, its user's later payloads after it (batchSize ${batchSize})`, async () => {
      const sync = h.newSync({ batchSize });
      // The first outcome throws: the first request's payload(s) fail in the middle of their handling.
      h.faults.outcomeThrows = 1;
      await h.enqueue(sync, 6, { users: 1 });
      await waitFor(() => new Set(h.deliveredIds(sync.id)).size === 6, 'all 6 delivered', 30_000);
      await waitFor(() => h.queueEmpty(sync.id), 'queue empty');
      expect(h.faults.outcomeThrows).toBe(0);
      const failed = lines.filter((l) => l.msg === 'delivering a payload failed unexpectedly; trying again');
      expect(failed.length).toBeGreaterThanOrEqual(1);
      expect(String(failed[0]!.err)).toContain('injected: unexpected error');
      // One user: in stream order, the payload that failed sent again before the ones after it.
      const ids = h.deliveredIds(sync.id);
      const firsts = [...new Set(ids)];
      expect(firsts).toEqual(Array.from({ length: 6 }, (_, i) => `${sync.id}-m${i}`));
      lines.length = 0;
    });
  }
});
