// A service in miniature, run by lifecycle.test.ts as
//   node --import @inkstream/telemetry/register lifecycle.fixture.mjs
// It records a span, says "ready" and waits for SIGTERM.
import { trace } from '@opentelemetry/api';
import { Lifecycle, createLogger } from '@inkstream/service-kit';

const logger = createLogger('fixture', 'info');
const lifecycle = new Lifecycle(logger, 10_000);
lifecycle.installSignalHandlers();
const keepAlive = setInterval(() => undefined, 1_000);
lifecycle.onShutdown('keep-alive', () => clearInterval(keepAlive));
trace.getTracer('fixture').startSpan('work before the stop').end();
logger.info('ready');
