import { describe, expect, it } from 'vitest';
import { planStreamUpdate } from './stream-update-plan.js';

const DAY = 86_400_000_000_000;
const current = {
  name: 'X_INGEST',
  subjects: ['x.ingest.>'],
  retention: 'limits',
  storage: 'file',
  max_age: 7 * DAY,
  max_msgs: -1,
  max_bytes: -1,
  max_msgs_per_subject: -1,
  duplicate_window: 600e9,
  num_replicas: 1,
};

describe('planStreamUpdate', () => {
  const cases: Array<{ name: string; current?: object; declared: object; owned: boolean; update?: object; kept?: Array<[string, string]> }> = [
    { name: 'nothing differs', declared: { ...current }, owned: true },
    { name: 'the owner changes the dedup window', declared: { duplicate_window: 60e9 }, owned: true, update: { duplicate_window: 60e9 } },
    {
      name: 'another service leaves the dedup window alone',
      declared: { duplicate_window: 600e9 * 2 },
      owned: false,
      kept: [['duplicate_window', 'not-owner']],
    },
    { name: 'the owner adds copies', declared: { num_replicas: 3 }, owned: true, update: { num_replicas: 3 } },
    {
      name: 'fewer copies are kept (an older replica in a rolling upgrade)',
      current: { ...current, num_replicas: 3 },
      declared: { num_replicas: 1 },
      owned: true,
      kept: [['num_replicas', 'copies']],
    },
    { name: 'another service never changes copies', declared: { num_replicas: 3 }, owned: false, kept: [['num_replicas', 'not-owner']] },
    { name: 'longer retention is applied', declared: { max_age: 14 * DAY }, owned: true, update: { max_age: 14 * DAY } },
    { name: 'shorter retention is kept', declared: { max_age: 1 * DAY }, owned: true, kept: [['max_age', 'retention']] },
    { name: 'a limit on an unlimited count is kept', declared: { max_msgs: 1000 }, owned: true, kept: [['max_msgs', 'retention']] },
    { name: 'lifting a limit is applied', declared: { max_age: 0 }, owned: true, update: { max_age: 0 } },
    {
      name: 'retention kept, the rest applied',
      declared: { max_age: DAY, num_replicas: 3, duplicate_window: 120e9 },
      owned: true,
      update: { num_replicas: 3, duplicate_window: 120e9 },
      kept: [['max_age', 'retention']],
    },
    { name: 'immutable settings are never sent', declared: { retention: 'workqueue', storage: 'memory', name: 'Y' }, owned: true },
    { name: 'a new subject list is applied', declared: { subjects: ['x.ingest.>', 'x.more.>'] }, owned: true, update: { subjects: ['x.ingest.>', 'x.more.>'] } },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const plan = planStreamUpdate(c.current ?? current, c.declared, { owned: c.owned });
      expect(plan.update).toEqual(c.update);
      expect(plan.kept.map((k) => [k.setting, k.why])).toEqual(c.kept ?? []);
      expect(plan.changes.map((k) => k.setting)).toEqual(Object.keys(plan.update ?? {}));
    });
  }

  it('shortens the duplicate window with max_age, as JetStream requires', () => {
    const kv = { max_age: 30e9, duplicate_window: 30e9 };
    expect(planStreamUpdate(kv, { max_age: 10e9 }, { owned: true, protectedLimits: [] }).update).toEqual({ max_age: 10e9, duplicate_window: 10e9 });
    expect(planStreamUpdate({ max_age: 0, duplicate_window: 120e9 }, { max_age: 600e9 }, { owned: true, protectedLimits: [] }).update).toEqual({ max_age: 600e9 });
  });

  it('protects only the limits it is told to (a lease bucket\'s TTL follows the code)', () => {
    const kv = { max_age: 10e9, max_msgs_per_subject: 5, num_replicas: 1 };
    const plan = planStreamUpdate(kv, { max_age: 5e9, max_msgs_per_subject: 1 }, { owned: true, protectedLimits: ['max_msgs_per_subject'] });
    expect(plan.update).toEqual({ max_age: 5e9 });
    expect(plan.kept).toEqual([{ setting: 'max_msgs_per_subject', current: 5, declared: 1, why: 'retention' }]);
  });
});
