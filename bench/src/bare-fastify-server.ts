import Fastify from 'fastify';

/**
 * The ingest baseline of `npm run bench`: a bare fastify server that parses the same JSON body
 * ingest is sent and answers 200 with an Amplitude-shaped body — no validation, no storage.
 * It runs as its own process, like ingest (started by baselines.ts, which posts to it with the
 * same load generator, connections and bodies), and prints `listening <url>` once it listens.
 * Body limit as ingest's batch endpoint (INGEST_MAX_BATCH_BODY_BYTES default, 20,000,000 bytes).
 */
const app = Fastify({ logger: false, bodyLimit: 20_000_000 });
const answer = (request: { body: unknown }) => {
  const events = (request.body as { events?: unknown[] } | null)?.events;
  return { code: 200, events_ingested: Array.isArray(events) ? events.length : 0, payload_size_bytes: 0, server_upload_time: Date.now() };
};
app.post('/2/httpapi', async (request) => answer(request));
app.post('/batch', async (request) => answer(request));

const address = await app.listen({ port: 0, host: '127.0.0.1' });
process.stdout.write(`listening ${address}\n`);
const stop = () => void app.close().then(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
