import { stopTelemetry } from '@inkstream/telemetry';
import type { Logger } from 'pino';

type Step = { name: string; run: () => Promise<void> | void };

/**
 * The shutdown half of a service's life. Steps run in reverse order of registration, so what
 * started last (the HTTP server, the consumers) stops first and connections close last; the
 * spans of all that are exported last of all, when telemetry runs.
 */
export class Lifecycle {
  private readonly steps: Step[] = [];
  private stopping: Promise<void> | undefined;

  constructor(
    private readonly logger: Logger,
    private readonly timeoutMs: number,
  ) {}

  onShutdown(name: string, run: Step['run']): void {
    this.steps.push({ name, run });
  }

  get isStopping(): boolean {
    return this.stopping !== undefined;
  }

  /** Installs SIGTERM/SIGINT handlers that stop gracefully and exit. */
  installSignalHandlers(): void {
    const onSignal = (signal: NodeJS.Signals) => {
      this.logger.info({ signal }, 'stopping');
      void this.shutdown().then(
        () => process.exit(0),
        () => process.exit(1),
      );
    };
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
    process.on('unhandledRejection', (reason) => {
      this.logger.error({ err: reason instanceof Error ? reason : String(reason) }, 'unhandled rejection');
    });
  }

  shutdown(): Promise<void> {
    this.stopping ??= this.runSteps();
    return this.stopping;
  }

  private async runSteps(): Promise<void> {
    const timer = setTimeout(() => {
      this.logger.error({ timeoutMs: this.timeoutMs }, 'graceful stop timed out, exiting');
      process.exit(1);
    }, this.timeoutMs);
    timer.unref();
    for (const step of [...this.steps].reverse()) {
      try {
        await step.run();
      } catch (err) {
        this.logger.error({ step: step.name, err }, 'shutdown step failed');
      }
    }
    this.logger.info('stopped');
    await stopTelemetry();
    clearTimeout(timer);
  }
}
