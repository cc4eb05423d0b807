import { FAILING_PROBE_MS } from './retry-policy.js';

/**
 * Whether a sync may send now, for the whole sync (every user): paused after a 429 (until its
 * Retry-After or throttle backoff), or `failing` (401/403/404: the credentials or endpoint are
 * wrong) — then one probe request at a time, at most every FAILING_PROBE_MS, and at once after
 * the endpoint or authorization changed. Pure: state in, state out.
 */
export interface GateState {
  pausedUntil: number;
  failing: boolean;
  /** While failing: the earliest time of the next probe. */
  nextProbeAt: number;
  /** While failing: a probe is in flight; nobody else goes until it is answered. */
  probing: boolean;
}

const NOT_A_PROBE: { probe: boolean } = Object.freeze({ probe: false });

export const OPEN_GATE: GateState = { pausedUntil: 0, failing: false, nextProbeAt: 0, probing: false };

export type Admission =
  /** Send; `probe` when this request is the failing sync's probe. */
  | { go: true; probe: boolean }
  /** Wait until `until` (epoch ms), or until the probe in flight is answered when undefined. */
  | { go: false; until: number | undefined };

export function admit(state: GateState, now: number): [Admission, GateState] {
  if (state.failing) {
    if (state.probing) return [{ go: false, until: undefined }, state];
    if (now < state.nextProbeAt) return [{ go: false, until: state.nextProbeAt }, state];
    return [{ go: true, probe: true }, { ...state, probing: true }];
  }
  if (state.pausedUntil > now) return [{ go: false, until: state.pausedUntil }, state];
  return [{ go: true, probe: false }, state];
}

export type AttemptKind = 'delivered' | 'throttled' | 'retry' | 'failing' | 'too-large' | 'rejected';

/** What an answer does to the gate. `throttleMs`: how long a 429 holds the sync. */
export function afterAnswer(state: GateState, answer: { kind: AttemptKind; probe: boolean; now: number; throttleMs?: number }): GateState {
  const { kind, probe, now } = answer;
  let next = probe ? { ...state, probing: false } : state;
  if (kind === 'failing') {
    // The first failing answer, or a failed probe: the next probe in FAILING_PROBE_MS.
    if (!next.failing || probe) next = { ...next, failing: true, nextProbeAt: now + FAILING_PROBE_MS };
    return next;
  }
  // The endpoint took the request as authorized (a probe that got anything but 401/403/404,
  // or any 2xx): no longer failing.
  if (next.failing && (probe || kind === 'delivered')) next = { ...next, failing: false, probing: false, nextProbeAt: 0 };
  if (kind === 'throttled' && answer.throttleMs !== undefined) {
    next = { ...next, pausedUntil: Math.max(next.pausedUntil, now + answer.throttleMs) };
  }
  return next;
}

/** The endpoint URL or authorization changed: probe at once, forget the old endpoint's pause. */
export function endpointChanged(state: GateState, now: number): GateState {
  return { ...state, pausedUntil: 0, nextProbeAt: state.failing ? now : state.nextProbeAt };
}

/**
 * The gate of one sync, with waiting: `enter` resolves when the caller may send (or when
 * `signal` aborts: then it resolves `undefined`). Waiters are woken on every change and at the
 * next time the gate may open; the payloads themselves stay in JetStream, unacknowledged.
 */
export class SendGate {
  private state: GateState = OPEN_GATE;
  private readonly waiters = new Set<() => void>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly now: () => number = Date.now) {}

  get snapshot(): GateState {
    return this.state;
  }

  /**
   * The common case without a promise: the gate is open and not failing (and not stopping), so
   * the caller may send now; null when it has to `enter` (and maybe wait) instead.
   */
  tryEnter(signal: AbortSignal): { probe: boolean } | null {
    const open = this.state;
    return !open.failing && !signal.aborted && open.pausedUntil <= this.now() ? NOT_A_PROBE : null;
  }

  async enter(signal: AbortSignal): Promise<{ probe: boolean } | undefined> {
    // The common case, open and not failing: nothing to decide, nothing allocated.
    const open = this.tryEnter(signal);
    if (open) return open;
    for (;;) {
      if (signal.aborted) return undefined;
      const [admission, next] = admit(this.state, this.now());
      this.state = next;
      if (admission.go) return { probe: admission.probe };
      await new Promise<void>((resolve) => {
        const wake = () => {
          this.waiters.delete(wake);
          signal.removeEventListener('abort', wake);
          resolve();
        };
        this.waiters.add(wake);
        signal.addEventListener('abort', wake, { once: true });
        if (admission.until !== undefined) this.wakeAt(admission.until);
      });
    }
  }

  answered(kind: AttemptKind, probe: boolean, throttleMs?: number): void {
    this.update(afterAnswer(this.state, { kind, probe, now: this.now(), ...(throttleMs !== undefined ? { throttleMs } : {}) }));
  }

  /** A probe that could not be sent (its sender stopped): let another one go. */
  probeAbandoned(): void {
    this.update({ ...this.state, probing: false });
  }

  endpointChanged(): void {
    this.update(endpointChanged(this.state, this.now()));
  }

  private update(next: GateState): void {
    this.state = next;
    this.wakeAll();
  }

  private wakeAt(at: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => this.wakeAll(), Math.max(0, at - this.now()));
  }

  private wakeAll(): void {
    // Every answer calls this; most find nobody waiting.
    if (this.waiters.size === 0) return;
    for (const wake of [...this.waiters]) wake();
  }

  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.wakeAll();
  }
}
