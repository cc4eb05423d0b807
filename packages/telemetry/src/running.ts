import type { TelemetrySettings } from './settings.js';

export interface RunningTelemetry {
  settings: TelemetrySettings;
  /** Ends the instrumentations and exports every span still buffered. */
  shutdown(): Promise<void>;
}

// On globalThis, so the copy `--import` loaded and the copy a service imports (should module
// resolution ever give two) share one SDK.
const RUNNING = Symbol.for('inkstream.telemetry');
type Holder = { [RUNNING]?: RunningTelemetry };

export function runningTelemetry(): RunningTelemetry | undefined {
  return (globalThis as Holder)[RUNNING];
}

export function setRunningTelemetry(running: RunningTelemetry | undefined): void {
  (globalThis as Holder)[RUNNING] = running;
}

/**
 * Flushes and stops the SDK, if one runs, waiting at most `timeoutMs` (an unreachable collector
 * must not hold up a graceful stop). The service kit calls it as the last step of shutdown.
 */
export async function stopTelemetry(timeoutMs = 5_000): Promise<void> {
  const running = runningTelemetry();
  if (!running) return;
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    running.shutdown(),
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, timeoutMs);
      timer.unref();
    }),
  ]);
  clearTimeout(timer);
}
