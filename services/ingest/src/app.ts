import cors from '@fastify/cors';
import type { ConfigView } from '@inkstream/bus';
import { createServer, type Logger, type ReadinessCheck, type Registry, type Server } from '@inkstream/service-kit';
import { requestTraceContext } from '@inkstream/telemetry';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import type { IncomingMessage } from 'node:http';
import { acceptEventsBody, type Accepted, type Refused } from './accept-events.js';
import { acceptIdentifyForm } from './accept-identify.js';
import { amplitudeErrors, successBody, type AmplitudeError } from './amplitude-responses.js';
import { backlogVerdict } from './backlog-verdict.js';
import { discardBody, readBodyWithin, type RefusedBody } from './body-intake.js';
import { answerClientError } from './client-error.js';
import { EventTooLargeError, type EventPublisher, type PublishResult } from './event-publisher.js';
import { readFormFields } from './form-fields.js';
import type { InFlightTicket } from './in-flight.js';
import { scanEventsBody } from './json-budget.js';
import type { IngestMetrics } from './metrics.js';
import { retryAfterSeconds, type PushBack } from './push-back.js';
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
  pushBack: PushBack;
}

type Endpoint = '/2/httpapi' | '/batch' | '/identify';
const ENDPOINTS: ReadonlySet<string> = new Set<Endpoint>(['/2/httpapi', '/batch', '/identify']);
/** Requests that may carry a body: they take a share of the in-flight budget. */
const BODILESS_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS']);

type RefusalReason = 'in_flight' | 'jetstream_unavailable' | 'publish_failed' | 'backlog' | 'stream_bytes';

function declaredLengthOf(raw: IncomingMessage): number | undefined {
  const header = raw.headers['content-length'];
  if (header === undefined || raw.headers['transfer-encoding'] !== undefined) return undefined;
  // Node's parser refuses malformed lengths before fastify sees them; injected requests (tests)
  // can carry any, which readBodyWithin answers as a client error.
  return Number(header);
}

/** The Amplitude-compatible intake: HTTP V2, Batch and Identify APIs. */
export function buildIngestApp(deps: IngestAppDeps): Server {
  const { config, publisher, ingestMetrics, pushBack } = deps;
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
  // Read within the route's limit and the in-flight budget; a refused body is read to its end
  // and thrown away before the answer goes out, so the client can read it (body-intake.ts).
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (request, payload, done) => {
    const ticket = tickets.get(request.raw);
    readBodyWithin(payload, {
      ...pushBack.body,
      limit: request.routeOptions.bodyLimit ?? deps.maxBatchBodyBytes,
      declaredLength: declaredLengthOf(request.raw),
      reserve: (bytes) => ticket?.reserve(bytes) ?? true,
    }).then(
      // The body's bytes, as a route expects them, or why it was refused.
      (outcome) => done(null, outcome.kind === 'body' ? outcome.bytes : outcome),
      (err: Error) => done(err),
    );
  });

  // Push-back before anything is read: JetStream unreachable or slow, or ingest holding as much
  // as it may. The body is discarded, not buffered, and the answer carries Retry-After.
  // preParsing runs after every onRequest hook, so a refusal carries the CORS headers too and
  // a browser SDK can read it.
  const tickets = new WeakMap<IncomingMessage, InFlightTicket>();
  app.addHook('preParsing', async (request, reply) => {
    if (BODILESS_METHODS.has(request.method)) return;
    const admission = admit();
    if ('ticket' in admission) {
      const { ticket } = admission;
      tickets.set(request.raw, ticket);
      reply.raw.once('close', () => ticket.responseClosed());
      return;
    }
    ingestMetrics.refused.inc({ reason: admission.reason });
    if (!(await discardBody(request.raw, pushBack.body, declaredLengthOf(request.raw)))) reply.header('connection', 'close');
    return send(reply, endpointOf(request), admission.error);
  });

  function admit(): { ticket: InFlightTicket } | { reason: RefusalReason; error: AmplitudeError } {
    if (!pushBack.natsConnected()) {
      return { reason: 'jetstream_unavailable', error: amplitudeErrors.unavailable(retryAfterSeconds(pushBack.jetStream.cooldownMs)) };
    }
    const waitMs = pushBack.jetStream.waitMs(Date.now());
    if (waitMs > 0) return { reason: 'jetstream_unavailable', error: amplitudeErrors.unavailable(retryAfterSeconds(waitMs)) };
    const ticket = pushBack.inFlight.admit();
    if (!ticket) return { reason: 'in_flight', error: amplitudeErrors.unavailable(1) };
    return { ticket };
  }

  // Browser SDKs post cross-origin. Without `allowedHeaders` the preflight allows the headers
  // it is asked for (Content-Encoding, custom transport headers, an OpenTelemetry
  // `traceparent`): safe, since no credentials are involved and the api_key is in the body.
  void app.register(cors, {
    origin: '*',
    methods: ['POST', 'OPTIONS'],
    maxAge: 86400,
  });

  const lookup = (hash: string) => config.projectForKeyHash(hash);

  const endpointOf = (request: FastifyRequest): Endpoint | 'other' => {
    const url = request.routeOptions.url;
    return url !== undefined && ENDPOINTS.has(url) ? (url as Endpoint) : 'other';
  };

  const send = (reply: FastifyReply, endpoint: Endpoint | 'other', error: AmplitudeError) => {
    ingestMetrics.requests.inc({ endpoint, code: String(error.status) });
    if (error.retryAfterSeconds !== undefined) reply.header('retry-after', String(error.retryAfterSeconds));
    return reply.code(error.status).send(error.body);
  };

  const overCapacity = () => {
    ingestMetrics.refused.inc({ reason: 'in_flight' });
    return amplitudeErrors.unavailable(1);
  };

  async function readBody(request: FastifyRequest, reply: FastifyReply, limit: number): Promise<Buffer | AmplitudeError> {
    const raw = request.body as Buffer | RefusedBody | undefined;
    if (raw === undefined) return amplitudeErrors.missingBody();
    if (!Buffer.isBuffer(raw)) {
      // Only when the rest of the body could not be read: the connection cannot be reused.
      if (!raw.drained) reply.header('connection', 'close');
      if (raw.reason === 'too-large') return amplitudeErrors.tooLarge();
      if (raw.reason === 'timeout') return amplitudeErrors.requestTimeout();
      return overCapacity();
    }
    if (raw.length === 0) return amplitudeErrors.missingBody();
    const encoding = (request.headers['content-encoding'] ?? '').trim().toLowerCase();
    const compressed = encoding !== '' && encoding !== 'identity';
    // Inflating may take up to `limit` bytes: reserved before, the unused part given back after.
    const ticket = tickets.get(request.raw);
    if (compressed && ticket && !ticket.reserve(limit)) return overCapacity();
    try {
      const decoded = await decodeBody(raw, request.headers['content-encoding'], limit);
      if (compressed) ticket?.unreserve(limit - decoded.length);
      return decoded;
    } catch (err) {
      if (compressed) ticket?.unreserve(limit);
      if (err instanceof BodyTooLargeError) return amplitudeErrors.tooLarge();
      if (err instanceof UnsupportedEncodingError) return amplitudeErrors.unsupportedMediaType();
      return amplitudeErrors.invalidJson();
    }
  }

  /** Route handlers hold their request's share of the budget until they are done with its data. */
  const holding =
    (handler: (request: FastifyRequest, reply: FastifyReply) => Promise<unknown>) =>
    async (request: FastifyRequest, reply: FastifyReply) => {
      const ticket = tickets.get(request.raw);
      ticket?.holdWork();
      try {
        return await handler(request, reply);
      } finally {
        ticket?.workDone();
      }
    };

  /**
   * Answers a refused request, or publishes an accepted one and answers once it is stored. Not
   * async itself: the accepted records (the parsed events) are handed to the publisher and let
   * go, so they are not kept alive while the acknowledgements are awaited.
   */
  function store(
    request: FastifyRequest,
    reply: FastifyReply,
    endpoint: Endpoint,
    result: Accepted | Refused,
    onStored: (count: number) => unknown,
  ): unknown {
    if (!result.ok) {
      if (result.events) ingestMetrics.events.inc({ outcome: 'rejected' }, result.events);
      return send(reply, endpoint, result.error);
    }
    const count = result.records.length;
    // Valid events, but the stream's readers are too far behind: 429, each event listed so the
    // SDKs hold them back (their own 30 s pause) and nothing of the request is stored.
    const backlog = backlogVerdict(pushBack.backlog(), pushBack.backlogLimits, Date.now());
    if (!backlog.admit) {
      ingestMetrics.refused.inc({ reason: backlog.reason });
      return send(reply, endpoint, amplitudeErrors.throttled(count, pushBack.backlogRetryAfterSeconds));
    }
    return answerWhenStored(request, reply, endpoint, publisher.publish(result.records, requestTraceContext(request.raw)), count, onStored);
  }

  async function answerWhenStored(
    request: FastifyRequest,
    reply: FastifyReply,
    endpoint: Endpoint,
    publishing: Promise<PublishResult>,
    count: number,
    onStored: (count: number) => unknown,
  ) {
    try {
      const { stored, duplicates } = await publishing;
      pushBack.jetStream.publishSucceeded();
      ingestMetrics.events.inc({ outcome: 'stored' }, stored);
      if (duplicates > 0) ingestMetrics.events.inc({ outcome: 'duplicate' }, duplicates);
    } catch (err) {
      if (err instanceof EventTooLargeError) {
        ingestMetrics.events.inc({ outcome: 'rejected' }, count);
        return send(reply, endpoint, amplitudeErrors.tooLarge());
      }
      // Failed or not acknowledged in time: JetStream is unavailable or slow. Later requests are
      // refused at once for the cool-down instead of each waiting for its own timeout.
      pushBack.jetStream.publishFailed(Date.now());
      ingestMetrics.refused.inc({ reason: 'publish_failed' });
      request.log.error({ err: String(err), events: count }, 'publish to JetStream failed');
      return send(reply, endpoint, amplitudeErrors.unavailable(retryAfterSeconds(pushBack.jetStream.cooldownMs)));
    }
    ingestMetrics.requests.inc({ endpoint, code: '200' });
    return onStored(count);
  }

  const eventsRoute = (endpoint: '/2/httpapi' | '/batch', limit: number) =>
    app.post(endpoint, { bodyLimit: limit }, holding(async (request, reply) => {
      const receivedAt = Date.now();
      const body = await readBody(request, reply, limit);
      if (!Buffer.isBuffer(body)) return send(reply, endpoint, body);
      // One pass over the bytes: the token budget, and where each event's text lies.
      const scan = scanEventsBody(body);
      if (scan.overBudget) return send(reply, endpoint, amplitudeErrors.tooLarge());
      const parsed = parseJson(body);
      if (parsed === undefined) return send(reply, endpoint, amplitudeErrors.invalidJson());
      return store(request, reply, endpoint, acceptEventsBody(parsed, lookup, receivedAt, { bytes: body, spans: scan.events }), (count) =>
        reply.code(200).send(successBody(count, body.length, Date.now())),
      );
    }));

  eventsRoute('/2/httpapi', deps.maxBodyBytes);
  eventsRoute('/batch', deps.maxBatchBodyBytes);

  app.post('/identify', { bodyLimit: deps.maxBodyBytes }, holding(async (request, reply) => {
    const receivedAt = Date.now();
    const body = await readBody(request, reply, deps.maxBodyBytes);
    if (!Buffer.isBuffer(body)) return send(reply, '/identify', body);
    const form = await readFormFields(body, request.headers['content-type'], deps.maxBodyBytes);
    if (form.kind === 'unsupported') return send(reply, '/identify', amplitudeErrors.unsupportedMediaType());
    if (form.kind === 'malformed') return send(reply, '/identify', amplitudeErrors.missingEvent());
    const fields = Object.fromEntries(form.fields);
    return store(request, reply, '/identify', acceptIdentifyForm(fields, lookup, receivedAt), () =>
      reply.code(200).type('text/plain').send('success'),
    );
  }));

  app.setNotFoundHandler((_request, reply) => reply.code(404).send(amplitudeErrors.notFound().body));
  // Anything fastify itself refuses (body too large, bad headers) still answers Amplitude's shape.
  app.setErrorHandler((error: FastifyError, request, reply) => {
    const status = typeof error.statusCode === 'number' && error.statusCode >= 400 ? error.statusCode : 500;
    if (status === 413) return reply.code(413).send(amplitudeErrors.tooLarge().body);
    if (status >= 500) {
      request.log.error({ err: error }, 'ingest request failed');
      return reply.code(503).header('retry-after', '1').send(amplitudeErrors.unavailable(1).body);
    }
    return reply.code(status).send({ code: status, error: error.message });
  });
  return app;
}
