/**
 * Starts telemetry before the service's own modules load:
 *
 *   node --import @inkstream/telemetry/register services/ingest/dist/index.js
 *
 * ESM modules are only instrumentable through a loader hook registered before they are
 * imported; import-in-the-middle intercepts just the modules an instrumentation asked for
 * (node:http, pg), everything else loads untouched. The service kit's graceful shutdown flushes
 * the spans (`stopTelemetry`).
 */
import { register } from 'node:module';
import { createAddHookMessageChannel } from 'import-in-the-middle';
import { startTelemetry } from './sdk.js';

const { registerOptions, waitForAllMessagesAcknowledged } = createAddHookMessageChannel();
register('import-in-the-middle/hook.mjs', import.meta.url, registerOptions);
startTelemetry();
await waitForAllMessagesAcknowledged();
