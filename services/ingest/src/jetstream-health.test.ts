import { describe, expect, it } from 'vitest';
import { JetStreamHealth } from './jetstream-health.js';

type Step = ['fail', number] | ['ok'] | ['wait?', number, number];

describe('JetStreamHealth', () => {
  it.each<{ label: string; steps: Step[] }>([
    { label: 'healthy from the start', steps: [['wait?', 0, 0]] },
    { label: 'a failure refuses for the cool-down', steps: [['fail', 1000], ['wait?', 1000, 5000], ['wait?', 3500, 2500], ['wait?', 6000, 0]] },
    { label: 'a later failure extends the cool-down', steps: [['fail', 0], ['fail', 4000], ['wait?', 5000, 4000]] },
    { label: 'an earlier failure reported late does not shorten it', steps: [['fail', 4000], ['fail', 1000], ['wait?', 5000, 4000]] },
    { label: 'an acknowledged publish ends it', steps: [['fail', 0], ['ok'], ['wait?', 1, 0]] },
    { label: 'tried again after the cool-down, the next failure starts another', steps: [['fail', 0], ['wait?', 5000, 0], ['fail', 5000], ['wait?', 5001, 4999]] },
  ])('$label', ({ steps }) => {
    const health = new JetStreamHealth(5000);
    for (const step of steps) {
      if (step[0] === 'fail') health.publishFailed(step[1]);
      else if (step[0] === 'ok') health.publishSucceeded();
      else expect(health.waitMs(step[1])).toBe(step[2]);
    }
  });
});
