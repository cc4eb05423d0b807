import { describe, expect, it } from 'vitest';
import { OPEN_GATE, SendGate, admit, afterAnswer, endpointChanged, type GateState } from './send-gate.js';

const failing: GateState = { pausedUntil: 0, failing: true, nextProbeAt: 30_000, probing: false };

describe('send gate', () => {
  it.each([
    ['open: go', OPEN_GATE, 0, { go: true, probe: false }],
    ['paused by a 429: wait until the pause ends', { ...OPEN_GATE, pausedUntil: 5_000 }, 1_000, { go: false, until: 5_000 }],
    ['pause over: go', { ...OPEN_GATE, pausedUntil: 5_000 }, 5_000, { go: true, probe: false }],
    ['failing, probe not due: wait for it', failing, 10_000, { go: false, until: 30_000 }],
    ['failing, probe due: this is the probe', failing, 30_000, { go: true, probe: true }],
    ['failing, probe in flight: wait for its answer', { ...failing, probing: true }, 40_000, { go: false, until: undefined }],
  ] as const)('%s', (_name, state, now, expected) => {
    expect(admit(state, now)[0]).toEqual(expected);
  });

  it('lets exactly one probe through while failing', () => {
    let state = failing;
    const goes = [];
    for (let i = 0; i < 16; i++) {
      const [a, next] = admit(state, 31_000);
      state = next;
      if (a.go) goes.push(a);
    }
    expect(goes).toEqual([{ go: true, probe: true }]);
  });

  it.each([
    ['a first 401 makes the sync failing, next probe in 30 s', OPEN_GATE, { kind: 'failing', probe: false, now: 1_000 }, { ...OPEN_GATE, failing: true, nextProbeAt: 31_000 }],
    ['more 401s of requests already in flight do not push the probe back', failing, { kind: 'failing', probe: false, now: 2_000 }, failing],
    ['a failed probe: next one in 30 s', { ...failing, probing: true }, { kind: 'failing', probe: true, now: 30_100 }, { ...failing, nextProbeAt: 60_100 }],
    ['a probe answered 2xx: healthy again', { ...failing, probing: true }, { kind: 'delivered', probe: true, now: 30_100 }, OPEN_GATE],
    ['a probe answered 503: authorized, so no longer failing', { ...failing, probing: true }, { kind: 'retry', probe: true, now: 30_100 }, OPEN_GATE],
    ['a 429 pauses for its delay', OPEN_GATE, { kind: 'throttled', probe: false, now: 1_000, throttleMs: 2_000 }, { ...OPEN_GATE, pausedUntil: 3_000 }],
    ['a shorter 429 does not shorten a pause', { ...OPEN_GATE, pausedUntil: 9_000 }, { kind: 'throttled', probe: false, now: 1_000, throttleMs: 2_000 }, { ...OPEN_GATE, pausedUntil: 9_000 }],
    ['a 5xx changes nothing', OPEN_GATE, { kind: 'retry', probe: false, now: 1_000 }, OPEN_GATE],
  ] as const)('%s', (_name, state, answer, expected) => {
    expect(afterAnswer(state, answer)).toEqual(expected);
  });

  it('probes at once after the endpoint or authorization changed, and forgets the pause', () => {
    expect(endpointChanged(failing, 5_000)).toEqual({ ...failing, nextProbeAt: 5_000 });
    expect(admit(endpointChanged(failing, 5_000), 5_000)[0]).toEqual({ go: true, probe: true });
    expect(endpointChanged({ ...OPEN_GATE, pausedUntil: 60_000 }, 5_000)).toEqual(OPEN_GATE);
  });

  it('tryEnter lets a request go at once only when the gate is open, not failing and not stopping', async () => {
    let now = 1_000;
    const gate = new SendGate(() => now);
    const stop = new AbortController();
    expect(gate.tryEnter(stop.signal)).toEqual({ probe: false });
    gate.answered('throttled', false, 2_000);
    expect(gate.tryEnter(stop.signal)).toBeNull();
    now = 3_000;
    expect(gate.tryEnter(stop.signal)).toEqual({ probe: false });
    gate.answered('failing', false);
    // Failing: the probe is decided by enter (one at a time), never by tryEnter.
    expect(gate.tryEnter(stop.signal)).toBeNull();
    now = 40_000;
    expect(await gate.enter(stop.signal)).toEqual({ probe: true });
    gate.answered('delivered', true);
    expect(gate.tryEnter(stop.signal)).toEqual({ probe: false });
    stop.abort();
    expect(gate.tryEnter(stop.signal)).toBeNull();
    expect(await gate.enter(stop.signal)).toBeUndefined();
    gate.close();
  });
});
