import cors from '@fastify/cors';
import type { ConfigView } from '@inkstream/bus';
import { createServer, type Logger, type ReadinessCheck, type Registry, type Server } from '@inkstream/service-kit';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { acceptEventsBody, type Accepted, type Refused } from './accept-events.js';
import { acceptIdentifyForm } from './accept-identify.js';
import { amplitudeErrors, successBody, type AmplitudeError } from './amplitude-responses.js';
import { answerClientError } from './client-error.js';
import { EventTooLargeError, type EventPublisher } from './event-publisher.js';
import { readFormFields } from './form-fields.js';
import { exceedsJsonTokenBudget } from './json-budget.js';
import type { IngestMetrics } from './metrics.js';
import { BodyTooLargeError, UnsupportedEncodingError, decodeBody, parseJson } from './request-body.js';

export interface IngestAppDeps {
  logger: Logger;
  metrics: Registry;
  ingestMetrics: IngestMetrics;
  config: ConfigView;
  publisher: EventPublisher;
  readiness: Record<string, ReadinessCheck>;
  maxBodyBytes: number;
  maxBatchBodyBytes: number;
}

type Endpoint = '/2/httpapi' | '/batch' | '/identify';

/** The Amplitude-compatible intake: HTTP V2, Batch and Identify APIs. */
export function buildIngestApp(deps: IngestAppDeps): Server {
  const { config, publisher, ingestMetrics } = deps;
  const app = createServer({
    service: 'ingest',
    logger: deps.logger,
    metrics: deps.metrics,
    readiness: deps.readiness,
    bodyLimit: deps.maxBatchBodyBytes,
    fastify: { clientErrorHandler: answerClientError },
  });

  // Bodies are read as bytes whatever their type: Amplitude clients send JSON as
  // application/json, text/plain (sendBeacon) or nothing, and the answers to bad bodies must
  // be Amplitude's, not fastify's.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

  // Browser SDKs post cross-origin. Without `allowedHeaders` the preflight allows the headers
  // it is asked for (Content-Encoding, custom transport headers, an OpenTelemetry
  // `traceparent`): safe, since no credentials are involved and the api_key is in the body.
  void app.register(cors, {
    origin: '*',
    methods: ['POST', 'OPTIONS'],
    maxAge: 86400,
  });

  const lookup = (hash: string) => config.projectForKeyHash(hash);

  const send = (reply: FastifyReply, endpoint: Endpoint, error: AmplitudeError) => {
    ingestMetrics.requests.inc({ endpoint, code: String(error.status) });
    return reply.code(error.status).send(error.body);
  };

  async function readBody(request: FastifyRequest, limit: number): Promise<Buffer | AmplitudeError> {
    const raw = request.body;
    if (!Buffer.isBuffer(raw) || raw.length === 0) return amplitudeErrors.missingBody();
    try {
      return await decodeBody(raw, request.headers['content-encoding'], limit);
    } catch (err) {
      if (err instanceof BodyTooLargeError) return amplitudeErrors.tooLarge();
      if (err instanceof UnsupportedEncodingError) return amplitudeErrors.unsupportedMediaType();
      return amplitudeErrors.invalidJson();
    }
  }

  async function store(
    request: FastifyRequest,
    reply: FastifyReply,
    endpoint: Endpoint,
    result: Accepted | Refused,
    onStored: (count: number) => unknown,
  ) {
    if (!result.ok) {
      if (result.events) ingestMetrics.events.inc({ outcome: 'rejected' }, result.events);
      return send(reply, endpoint, result.error);
    }
    try {
      const { stored, duplicates } = await publisher.publish(result.records);
      ingestMetrics.events.inc({ outcome: 'stored' }, stored);
      if (duplicates > 0) ingestMetrics.events.inc({ outcome: 'duplicate' }, duplicates);
    } catch (err) {
      if (err instanceof EventTooLargeError) {
        ingestMetrics.events.inc({ outcome: 'rejected' }, result.records.length);
        return send(reply, endpoint, amplitudeErrors.tooLarge());
      }
      request.log.error({ err: String(err), events: result.records.length }, 'publish to JetStream failed');
      return send(reply, endpoint, amplitudeErrors.unavailable());
    }
    ingestMetrics.requests.inc({ endpoint, code: '200' });
    return onStored(result.records.length);
  }

  const eventsRoute = (endpoint: '/2/httpapi' | '/batch', limit: number) =>
    app.post(endpoint, { bodyLimit: limit }, async (request, reply) => {
      const receivedAt = Date.now();
      const body = await readBody(request, limit);
      if (!Buffer.isBuffer(body)) return send(reply, endpoint, body);
      if (exceedsJsonTokenBudget(body)) return send(reply, endpoint, amplitudeErrors.tooLarge());
      const parsed = parseJson(body);
      if (parsed === undefined) return send(reply, endpoint, amplitudeErrors.invalidJson());
      return store(request, reply, endpoint, acceptEventsBody(parsed, lookup, receivedAt), (count) =>
        reply.code(200).send(successBody(count, body.length, Date.now())),
      );
    });

  eventsRoute('/2/httpapi', deps.maxBodyBytes);
  eventsRoute('/batch', deps.maxBatchBodyBytes);

  app.post('/identify', { bodyLimit: deps.maxBodyBytes }, async (request, reply) => {
    const receivedAt = Date.now();
    const body = await readBody(request, deps.maxBodyBytes);
    if (!Buffer.isBuffer(body)) return send(reply, '/identify', body);
    const form = await readFormFields(body, request.headers['content-type'], deps.maxBodyBytes);
    if (form.kind === 'unsupported') return send(reply, '/identify', amplitudeErrors.unsupportedMediaType());
    if (form.kind === 'malformed') return send(reply, '/identify', amplitudeErrors.missingEvent());
    const fields = Object.fromEntries(form.fields);
    return store(request, reply, '/identify', acceptIdentifyForm(fields, lookup, receivedAt), () =>
      reply.code(200).type('text/plain').send('success'),
    );
  });

  app.setNotFoundHandler((_request, reply) => reply.code(404).send(amplitudeErrors.notFound().body));
  // Anything fastify itself refuses (body too large, bad headers) still answers Amplitude's shape.
  app.setErrorHandler((error: FastifyError, request, reply) => {
    const status = typeof error.statusCode === 'number' && error.statusCode >= 400 ? error.statusCode : 500;
    if (status === 413) return reply.code(413).send(amplitudeErrors.tooLarge().body);
    if (status >= 500) {
      request.log.error({ err: error }, 'ingest request failed');
      return reply.code(503).send(amplitudeErrors.unavailable().body);
    }
    return reply.code(status).send({ code: status, error: error.message });
  });
  return app;
}
