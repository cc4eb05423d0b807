/**
 * Bad input (spec/ingest.md): arbitrary bytes, invalid UTF-8, truncated or absurdly nested
 * JSON, wrong types at every level, odd content types and encodings, lying Content-Length —
 * always a 4xx with a JSON body whose `code` equals the status, never a 5xx, a hang or a
 * growing heap. Seeded, so a failure reproduces; every input that once broke ingest is kept
 * among the fixed cases.
 */
import { connect, type Socket } from 'node:net';
import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { USER_PROPERTY_OPERATIONS } from '@inkstream/contracts';
import type { Server } from '@inkstream/service-kit';
import { startIngestHarness, type IngestHarness } from './test-support/ingest-harness.js';

type Endpoint = '/2/httpapi' | '/batch' | '/identify';
type Json = Record<string, unknown>;

interface FuzzCase {
  label: string;
  url: Endpoint;
  headers: Record<string, string>;
  body: Buffer;
  /** `refused`: must be a 4xx. `answered`: valid input may be accepted, but never a 5xx. */
  expect: 'refused' | 'answered';
}

interface Answer {
  status: number;
  contentType: string | undefined;
  body: string;
}

const SEED = 20_240_301;
const EVENT_ENDPOINTS = ['/2/httpapi', '/batch'] as const;
const ALL_ENDPOINTS = ['/2/httpapi', '/batch', '/identify'] as const;
const PROPERTY_OBJECTS = ['event_properties', 'user_properties', 'groups', 'group_properties'] as const;
const REJECTED_IDS = ['anonymous', 'nil', 'none', 'null', 'n/a', 'na', 'undefined', 'unknown', '00000000-0000-0000-0000-000000000000', '{}', 'lmy47d', '0', '-1'];
const INVALID_UTF8 = [[0xff], [0xfe], [0x80], [0xc0, 0x80], [0xe0, 0x80, 0x80], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xf8, 0x88, 0x80, 0x80, 0x80], [0xc3, 0x28], [0xe2, 0x82]];
const CONTENT_TYPES = [
  'application/json',
  'application/json; charset=utf-8',
  'text/plain;charset=UTF-8',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=zzz',
  'multipart/form-data',
  'application/octet-stream',
  'text/html',
  'application/xml',
  '*/*',
  ';;;',
  'application/json; charset=utf-16',
];
const JSON_HEADERS = { 'content-type': 'application/json' };
const FORM_HEADERS = { 'content-type': 'application/x-www-form-urlencoded' };

const roundTrip = (value: unknown): unknown => JSON.parse(JSON.stringify(value) ?? 'null');
const isPlainObject = (v: unknown): boolean => typeof v === 'object' && v !== null && !Array.isArray(v);
const printable = fc.array(fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), { maxLength: 40 }).map((a) => a.join(''));

function nested(depth: number, asArray: boolean, leaf: unknown = 'leaf'): unknown {
  let value = leaf;
  for (let i = 0; i < depth; i++) value = asArray ? [value] : { d: value };
  return value;
}
/** Nesting as text, for depths JSON.stringify itself could not produce. */
const deepArrayText = (depth: number) => '['.repeat(depth) + ']'.repeat(depth);
const deepObjectText = (depth: number) => '{"d":'.repeat(depth) + '1' + '}'.repeat(depth);

function multipartBody(fields: Array<[string, string | Buffer]>, boundary = 'fuzzBoundary') {
  const parts = fields.map(([name, value]) =>
    Buffer.concat([Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n`), Buffer.from(value), Buffer.from('\r\n')]),
  );
  return { body: Buffer.concat([...parts, Buffer.from(`--${boundary}--\r\n`)]), headers: { 'content-type': `multipart/form-data; boundary=${boundary}` } };
}

// ---- value generators -------------------------------------------------------------------

const anyJson = fc.oneof(
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.boolean(),
  fc.string({ maxLength: 20 }),
  fc.constant(null),
  fc.array(fc.jsonValue({ maxDepth: 2 }), { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 6 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 }),
);
/** JSON values (never null) for which `isRight` is false after a JSON round trip. */
const wrong = (isRight: (v: unknown) => boolean) => anyJson.map(roundTrip).filter((v) => v !== null && !isRight(v));

const notString = wrong((v) => typeof v === 'string');
const notObject = wrong(isPlainObject);
const notTime = fc.oneof(
  wrong((v) => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0),
  fc.constantFrom<unknown>(-1, 1.5, 2 ** 53, 1e300, '1709566376409', '2024-01-01T00:00:00Z'),
);
const randomCase = (s: string) =>
  fc.array(fc.boolean(), { minLength: s.length, maxLength: s.length }).map((flips) => [...s].map((ch, i) => (flips[i] ? ch.toUpperCase() : ch)).join(''));
const badId = fc.oneof(
  notString,
  fc.string({ maxLength: 4 }),
  fc.constantFrom(...REJECTED_IDS).chain(randomCase),
  fc.integer({ min: 1025, max: 1100 }).map((n) => 'i'.repeat(n)),
);
const badEventType = fc.oneof(notString, fc.constantFrom('', ' ', '\t\n '), fc.integer({ min: 1025, max: 1100 }).map((n) => 'e'.repeat(n)));
const operation = fc.constantFrom(...USER_PROPERTY_OPERATIONS);
const badOperations = fc.oneof(
  // Operations mixed with plain keys.
  fc
    .tuple(operation, fc.string({ minLength: 1, maxLength: 8 }).filter((k) => !k.startsWith('$')), fc.jsonValue({ maxDepth: 1 }))
    .map(([op, plain, value]) => ({ [op]: { a: 1 }, [plain]: value })),
  // An operation (other than $clearAll) whose value is not an object.
  fc.tuple(operation.filter((op) => op !== '$clearAll'), notObject).map(([op, value]) => ({ [op]: value })),
);
const deepValue = fc.tuple(fc.integer({ min: 41, max: 3_000 }), fc.boolean()).map(([depth, asArray]) => nested(depth, asArray));

const baseEvent = fc
  .record({
    event_type: fc.string({ minLength: 1, maxLength: 20 }).filter((s) => s.trim() !== ''),
    event_properties: fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 4 }),
  })
  .map((e) => ({ user_id: 'user-12345', ...e }) as Json);

/** A change that makes an event (or identification) invalid, as data so failures print well. */
type Mutation = { set: string; value: unknown } | { drop: string };
const identificationMutation: fc.Arbitrary<Mutation> = fc.oneof(
  badId.map((value) => ({ set: 'user_id', value })),
  badId.map((value) => ({ set: 'device_id', value })),
  fc.constant({ drop: 'user_id' }),
  notTime.map((value) => ({ set: 'time', value })),
  fc.tuple(fc.constantFrom(...PROPERTY_OBJECTS), notObject).map(([set, value]) => ({ set, value })),
  fc.tuple(fc.constantFrom('user_properties', 'group_properties'), badOperations).map(([set, value]) => ({ set, value })),
  fc
    .tuple(fc.constantFrom(...PROPERTY_OBJECTS, 'plan', 'ingestion_metadata', 'brand_new_field', 'user_id', 'time'), deepValue)
    .map(([set, value]) => ({ set, value })),
);
const eventMutation: fc.Arbitrary<Mutation> = fc.oneof(
  identificationMutation,
  badEventType.map((value) => ({ set: 'event_type', value })),
  fc.constant({ drop: 'event_type' }),
);
function mutate(target: Json, mutation: Mutation): Json {
  const out = { ...target };
  if ('drop' in mutation) delete out[mutation.drop];
  else out[mutation.set] = mutation.value;
  return out;
}

// ---- case generators --------------------------------------------------------------------

function eventsCase(label: string, url: Endpoint, body: Buffer | string, expect: FuzzCase['expect'], headers: Record<string, string> = JSON_HEADERS): FuzzCase {
  return { label, url, headers, body: Buffer.isBuffer(body) ? body : Buffer.from(body), expect };
}

function categories(apiKey: string): Array<{ name: string; runs: number; cases: fc.Arbitrary<FuzzCase> }> {
  const requestBody = (events: unknown, extra: Json = {}) => JSON.stringify({ api_key: apiKey, events, ...extra });
  const identifyForm = (identification: string, asMultipart: boolean, key: string = apiKey) =>
    asMultipart
      ? multipartBody([
          ['api_key', key],
          ['identification', identification],
        ])
      : { body: Buffer.from(new URLSearchParams({ api_key: key, identification }).toString()), headers: FORM_HEADERS };
  const validBody = fc.tuple(fc.array(baseEvent, { minLength: 1, maxLength: 3 }), fc.constantFrom(...EVENT_ENDPOINTS)).map(([events, url]) => ({ url, body: requestBody(events) }));

  return [
    {
      name: 'random bytes',
      runs: 500,
      cases: fc
        .tuple(fc.uint8Array({ maxLength: 4_096 }), fc.constantFrom(...ALL_ENDPOINTS), fc.constantFrom(...CONTENT_TYPES))
        .map(([bytes, url, type]) => eventsCase('random bytes', url, Buffer.from(bytes), 'refused', { 'content-type': type })),
    },
    {
      name: 'invalid UTF-8',
      runs: 300,
      cases: fc.tuple(fc.constantFrom(...INVALID_UTF8), fc.constantFrom(...ALL_ENDPOINTS), fc.boolean(), fc.boolean()).map(([bad, url, asMultipart, percentEncoded]) => {
        const marker = 'MARK_INVALID_UTF8';
        const invalid = Buffer.from(bad);
        if (url !== '/identify') {
          const [before, after] = requestBody([{ user_id: 'user-12345', event_type: `x${marker}y` }]).split(marker) as [string, string];
          return eventsCase(`invalid UTF-8 ${invalid.toString('hex')}`, url, Buffer.concat([Buffer.from(before), invalid, Buffer.from(after)]), 'refused');
        }
        const identification = JSON.stringify({ user_id: 'user-12345', user_properties: { city: marker } });
        if (asMultipart) {
          const [before, after] = identification.split(marker) as [string, string];
          const form = multipartBody([
            ['api_key', apiKey],
            ['identification', Buffer.concat([Buffer.from(before), invalid, Buffer.from(after)])],
          ]);
          return { label: `invalid UTF-8 multipart ${invalid.toString('hex')}`, url, ...form, expect: 'refused' };
        }
        const encoded = new URLSearchParams({ api_key: apiKey, identification }).toString();
        const [before, after] = encoded.split(marker) as [string, string];
        const middle = percentEncoded ? Buffer.from([...invalid].map((b) => `%${b.toString(16).toUpperCase()}`).join('')) : invalid;
        return { label: `invalid UTF-8 form ${invalid.toString('hex')}`, url, headers: FORM_HEADERS, body: Buffer.concat([Buffer.from(before), middle, Buffer.from(after)]), expect: 'refused' };
      }),
    },
    {
      name: 'truncated JSON and forms',
      runs: 400,
      cases: fc
        .tuple(fc.array(baseEvent, { minLength: 1, maxLength: 3 }), fc.constantFrom(...ALL_ENDPOINTS), fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }))
        .map(([events, url, at]) => {
          const full =
            url === '/identify'
              ? new URLSearchParams({ api_key: apiKey, identification: JSON.stringify(events) }).toString()
              : requestBody(events);
          const cut = Math.floor(at * full.length);
          return eventsCase(`truncated at ${cut}/${full.length}`, url, full.slice(0, cut), 'refused', url === '/identify' ? FORM_HEADERS : JSON_HEADERS);
        }),
    },
    {
      name: 'wrong types in events',
      runs: 900,
      cases: fc.oneof(
        fc
          .tuple(fc.array(baseEvent, { minLength: 1, maxLength: 4 }), fc.nat(), eventMutation, fc.constantFrom(...EVENT_ENDPOINTS))
          .map(([events, victim, mutation, url]) => {
            const i = victim % events.length;
            const mutated = events.map((e, j) => (j === i ? mutate(e, mutation) : e));
            return eventsCase(`event ${i}: ${JSON.stringify(mutation).slice(0, 120)}`, url, requestBody(mutated), 'refused');
          }),
        fc
          .tuple(fc.oneof(notString, fc.constant('')), fc.array(baseEvent, { minLength: 1, maxLength: 2 }), fc.constantFrom(...EVENT_ENDPOINTS))
          .map(([apiKeyValue, events, url]) => eventsCase(`api_key ${JSON.stringify(apiKeyValue).slice(0, 80)}`, url, JSON.stringify({ api_key: apiKeyValue, events }), 'refused')),
        fc
          .tuple(fc.oneof(wrong(Array.isArray), fc.constant([])), fc.constantFrom(...EVENT_ENDPOINTS))
          .map(([events, url]) => eventsCase(`events ${JSON.stringify(events).slice(0, 80)}`, url, requestBody(events), 'refused')),
        fc
          .tuple(fc.oneof(notObject, fc.constant(null)), fc.array(baseEvent, { maxLength: 2 }), fc.constantFrom(...EVENT_ENDPOINTS))
          .map(([notAnEvent, events, url]) => eventsCase(`event ${JSON.stringify(notAnEvent).slice(0, 80)}`, url, requestBody([...events, notAnEvent]), 'refused')),
      ),
    },
    {
      name: 'wrong types in identifications',
      runs: 300,
      cases: fc
        .tuple(baseEvent, identificationMutation, fc.boolean(), fc.boolean())
        .map(([item, mutation, asArray, asMultipart]) => {
          const { event_type: _ignored, event_properties: _alsoIgnored, ...identification } = item;
          const bad = mutate({ ...identification, user_properties: { plan: 'pro' } }, mutation);
          const form = identifyForm(JSON.stringify(asArray ? [{ user_id: 'user-12345' }, bad] : bad), asMultipart);
          return { label: `identification: ${JSON.stringify(mutation).slice(0, 120)}`, url: '/identify' as const, ...form, expect: 'refused' as const };
        }),
    },
    {
      name: 'anything where anything is carried along',
      runs: 300,
      cases: fc
        .tuple(
          baseEvent,
          fc.constantFrom('options', 'options.min_id_length', 'insert_id', 'session_id', 'plan', 'price', 'library', 'a_new_field', 'top_level_unknown'),
          fc.jsonValue({ maxDepth: 4 }),
          fc.constantFrom(...EVENT_ENDPOINTS),
        )
        .map(([event, where, value, url]) => {
          let body: string;
          if (where === 'options') body = requestBody([event], { options: value });
          else if (where === 'options.min_id_length') body = requestBody([event], { options: { min_id_length: value } });
          else if (where === 'top_level_unknown') body = requestBody([event], { client_upload_time: value, request_metadata: value });
          else body = requestBody([{ ...event, [where]: value }]);
          return eventsCase(`${where} = ${JSON.stringify(value).slice(0, 80)}`, url, body, 'answered');
        }),
    },
    {
      name: 'content types and encodings',
      runs: 400,
      cases: fc
        .tuple(
          validBody,
          fc.uint8Array({ minLength: 1, maxLength: 512 }),
          fc.constantFrom(...ALL_ENDPOINTS),
          fc.oneof(fc.constantFrom(...CONTENT_TYPES), printable),
          fc.constantFrom('none', 'gzip', 'gzip-garbage', 'gzip-truncated', 'br', 'br-garbage', 'deflate-garbage', 'unknown', 'random-token'),
          printable,
        )
        .map(([valid, garbage, url, type, encoding, token]): FuzzCase => {
          const json = Buffer.from(valid.body);
          const headers: Record<string, string> = { 'content-type': type };
          const label = `${encoding} as ${JSON.stringify(type)}`;
          switch (encoding) {
            case 'none':
              return { label, url, headers, body: json, expect: 'answered' };
            case 'gzip':
              return { label, url, headers: { ...headers, 'content-encoding': 'gzip' }, body: gzipSync(json), expect: 'answered' };
            case 'gzip-garbage':
              return { label, url, headers: { ...headers, 'content-encoding': 'gzip' }, body: Buffer.from(garbage), expect: 'refused' };
            case 'gzip-truncated': {
              const gz = gzipSync(json);
              return { label, url, headers: { ...headers, 'content-encoding': 'x-gzip' }, body: gz.subarray(0, gz.length - 1 - (garbage[0]! % 8)), expect: 'refused' };
            }
            case 'br':
              return { label, url, headers: { ...headers, 'content-encoding': 'br' }, body: brotliCompressSync(json), expect: 'answered' };
            case 'br-garbage':
              return { label, url, headers: { ...headers, 'content-encoding': 'br' }, body: Buffer.from(garbage), expect: 'refused' };
            case 'deflate-garbage':
              return { label, url, headers: { ...headers, 'content-encoding': 'deflate' }, body: Buffer.concat([deflateSync(json).subarray(0, 4), Buffer.from(garbage)]), expect: 'refused' };
            case 'unknown':
              return { label, url, headers: { ...headers, 'content-encoding': ['compress', 'zstd', 'gzip, br', 'gzip, gzip', 'base64'][garbage[0]! % 5]! }, body: json, expect: 'refused' };
            default:
              return { label: `${label} ${JSON.stringify(token)}`, url, headers: { ...headers, 'content-encoding': token }, body: json, expect: 'answered' };
          }
        }),
    },
    {
      name: 'Content-Length lies',
      runs: 200,
      cases: fc
        .tuple(validBody, fc.constantFrom(...ALL_ENDPOINTS), fc.constantFrom('larger', 'smaller', 'zero', 'negative', 'fraction', 'hex', 'huge', 'words'), fc.nat({ max: 100_000 }))
        .map(([valid, url, lie, n]): FuzzCase => {
          const length = Buffer.byteLength(valid.body);
          const value = {
            larger: String(length + 1 + n),
            smaller: String(n % length),
            zero: '0',
            negative: `-${n}`,
            fraction: `${length}.5`,
            hex: `0x${length.toString(16)}`,
            huge: '99999999999999999999',
            words: 'a lot',
          }[lie];
          const headers = url === '/identify' ? FORM_HEADERS : JSON_HEADERS;
          // inject hands fastify what Node's parser never would (fastify reads `0x…` as a
          // number and ignores words), so those two may pass there; over a socket they cannot.
          const injectOnly = lie === 'words' || lie === 'hex';
          return { label: `Content-Length ${lie}: ${value} for ${length}`, url, headers: { ...headers, 'content-length': value }, body: Buffer.from(valid.body), expect: injectOnly ? 'answered' : 'refused' };
        }),
    },
  ];
}

/** Inputs that are too big or too strange to generate at random; the first ones broke ingest once. */
function extremes(apiKey: string, maxPayload: number): FuzzCase[] {
  const key = JSON.stringify(apiKey);
  const event = '{"user_id":"user-12345","event_type":"Extreme"';
  const body = (events: string, extra = '') => `{"api_key":${key},"events":[${events}]${extra}}`;
  const cases: FuzzCase[] = [];
  const both = (label: string, text: string | Buffer, expect: FuzzCase['expect'], headers: Record<string, string> = JSON_HEADERS) => {
    for (const url of EVENT_ENDPOINTS) cases.push(eventsCase(label, url, Buffer.isBuffer(text) ? text : Buffer.from(text), expect, headers));
  };
  // Regressions: nesting outside the property objects once overflowed the stack while storing (503).
  both('plan nested 100,000 deep', body(`${event},"plan":${deepArrayText(100_000)}}`), 'refused');
  both('unknown field nested 100,000 deep, no insert_id', body(`${event},"custom":${deepObjectText(100_000)}}`), 'refused');
  both('event_properties nested 100,000 deep', body(`${event},"event_properties":${deepObjectText(100_000)}}`), 'refused');
  both('user_properties nested 100,000 deep', body(`${event},"user_properties":{"$set":${deepObjectText(100_000)}}}`), 'refused');
  // Regression: invalid UTF-8 was decoded to U+FFFD and stored under a 200.
  both('invalid UTF-8 in event_type', Buffer.concat([Buffer.from(`{"api_key":${key},"events":[{"user_id":"user-12345","event_type":"Ext`), Buffer.from([0xff]), Buffer.from('"}]}')]), 'refused');
  both('body nested 100,000 deep (arrays)', deepArrayText(100_000), 'refused');
  both('body nested 100,000 deep (objects)', deepObjectText(100_000), 'refused');
  both('body nesting never closed', '['.repeat(100_000), 'refused');
  both('events nested 100,000 deep', `{"api_key":${key},"events":${deepArrayText(100_000)}}`, 'refused');
  both('api_key nested 100,000 deep', `{"api_key":${deepArrayText(100_000)},"events":[${event}}]}`, 'refused');
  both('options nested 100,000 deep (ignored)', body(`${event}}`, `,"options":${deepObjectText(100_000)}`), 'answered');
  both('unknown top-level key nested 100,000 deep (ignored)', body(`${event}}`, `,"request_metadata":${deepArrayText(100_000)}`), 'answered');
  both('user_id of 100 KB', body(`{"user_id":"${'u'.repeat(100_000)}","event_type":"x"}`), 'refused');
  both('api_key of 900 KB', `{"api_key":"${'k'.repeat(900_000)}","events":[${event}}]}`, 'refused');
  both('time of 1e400', body(`${event},"time":1e400}`), 'refused');
  both('__proto__ carrying the api_key', `{"__proto__":{"api_key":${key}},"events":[${event}}]}`, 'refused');
  both('__proto__ carrying the user_id', body('{"__proto__":{"user_id":"user-12345"},"event_type":"x"}'), 'refused');
  both('2000 events each nested too deep', body(Array.from({ length: 2000 }, () => `${event},"plan":${deepArrayText(50)}}`).join(',')), 'refused');
  both('gzip bomb', gzipSync(Buffer.alloc(25_000_000, 0x20)), 'refused', { ...JSON_HEADERS, 'content-encoding': 'gzip' });
  both('UTF-8 BOM before the JSON', Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(body(`${event}}`))]), 'answered');
  both('NUL and lone surrogates in strings', body(`${event},"event_properties":{"nul":"\\u0000","lone":"\\ud800","\\udfff":1}}`), 'answered');
  both('2001 events', body(Array.from({ length: 2001 }, () => `${event}}`).join(',')), 'refused');
  cases.push(eventsCase('event_type of 1 MB on /batch', '/batch', body(`{"user_id":"user-12345","event_type":"${'e'.repeat(1_000_000)}"}`), 'refused'));
  cases.push(eventsCase('one event larger than a NATS message on /batch', '/batch', body(`${event},"event_properties":{"s":"${'x'.repeat(maxPayload + 1_000)}"}}`), 'refused'));
  // A 20 MB body of empty objects would take ~440 MB of heap to parse: refused before parsing.
  cases.push(eventsCase('20 MB of empty objects on /batch', '/batch', body(Array.from({ length: 6_000_000 }, () => '{}').join(',')), 'refused'));
  cases.push(eventsCase('a million keys on /batch', '/batch', body(`${event},"event_properties":{${Array.from({ length: 1_000_001 }, (_, i) => `"k${i}":1`).join(',')}}}`), 'refused'));
  cases.push(eventsCase('Content-Length beyond any limit', '/batch', body(`${event}}`), 'refused', { ...JSON_HEADERS, 'content-length': '99999999999999999999' }));

  const form = (identification: string) => Buffer.from(new URLSearchParams({ api_key: apiKey, identification }).toString());
  const identify = (label: string, text: Buffer, expect: FuzzCase['expect'], headers: Record<string, string> = FORM_HEADERS) =>
    cases.push({ label, url: '/identify', headers, body: text, expect });
  identify('identification nested 100,000 deep', form(`{"user_id":"user-12345","x":${deepArrayText(100_000)}}`), 'refused');
  identify('identification itself nested 100,000 deep', form(deepArrayText(100_000)), 'refused');
  identify('identification of 1.1 MB', form(`{"user_id":"user-12345","s":"${'s'.repeat(1_100_000)}"}`), 'refused');
  identify('gzip bomb', gzipSync(Buffer.alloc(25_000_000, 0x61)), 'refused', { ...FORM_HEADERS, 'content-encoding': 'gzip' });
  identify('multipart with 1000 parts before the fields', multipartBody([...Array.from({ length: 1000 }, (_, i): [string, string] => [`f${i}`, 'v']), ['api_key', apiKey], ['identification', '{"user_id":"user-12345"}']]).body, 'refused', {
    'content-type': 'multipart/form-data; boundary=fuzzBoundary',
  });
  identify('multipart with a file part', Buffer.from(`--b\r\nContent-Disposition: form-data; name="identification"; filename="a.json"\r\nContent-Type: application/json\r\n\r\n{"user_id":"user-12345"}\r\n--b--\r\n`), 'refused', {
    'content-type': 'multipart/form-data; boundary=b',
  });
  identify('multipart boundary of 200 characters', Buffer.from('x'), 'refused', { 'content-type': `multipart/form-data; boundary=${'b'.repeat(200)}` });
  identify('form field named __proto__', Buffer.from(`__proto__=x&api_key=${apiKey}`), 'refused');
  return cases;
}

// ---- the runner -------------------------------------------------------------------------

/** Fails the case instead of hanging the suite. */
async function withDeadline<T>(work: Promise<T>, label: string, ms = 30_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms: ${label}`)), ms);
  });
  try {
    return await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

function checkAnswer(c: FuzzCase, answer: Answer): void {
  const where = `${c.url} ${c.label}: ${answer.status} ${answer.body.slice(0, 200)}`;
  expect(answer.status, where).toBeLessThan(500);
  if (c.expect === 'refused') expect(answer.status, where).toBeGreaterThanOrEqual(400);
  if (answer.status === 200) {
    if (c.url === '/identify') expect(answer.body, where).toBe('success');
    else expect(JSON.parse(answer.body), where).toMatchObject({ code: 200, events_ingested: expect.any(Number) });
    return;
  }
  expect(answer.status, where).toBeGreaterThanOrEqual(400);
  expect(answer.contentType, where).toMatch(/^application\/json/);
  const body = JSON.parse(answer.body) as Json;
  expect(body.code, where).toBe(answer.status);
  expect(typeof body.error, where).toBe('string');
}

async function injectCase(app: Server, c: FuzzCase): Promise<Answer> {
  const res = await withDeadline(app.inject({ method: 'POST', url: c.url, headers: c.headers, payload: c.body }), `${c.url} ${c.label}`);
  const contentType = res.headers['content-type'];
  return { status: res.statusCode, contentType: typeof contentType === 'string' ? contentType : undefined, body: res.body };
}

/**
 * Writes raw bytes to the server and reads the first answer up to the connection's close.
 * `halfClose` ends the client's side after writing, so a body shorter than its Content-Length
 * ends instead of waiting; only for those, because Node aborts requests still in flight when
 * the client half-closes.
 */
function rawExchange(port: number, request: Buffer, label: string, halfClose: boolean): Promise<Answer> {
  return withDeadline(
    new Promise<Answer>((resolve, reject) => {
      const socket: Socket = connect(port, '127.0.0.1');
      const chunks: Buffer[] = [];
      socket.on('data', (chunk) => chunks.push(chunk));
      socket.on('error', (err) => (chunks.length > 0 ? undefined : reject(err)));
      socket.on('close', () => {
        const raw = Buffer.concat(chunks).toString('latin1');
        const head = raw.slice(0, raw.indexOf('\r\n\r\n'));
        const match = /^HTTP\/1\.1 (\d{3})/.exec(head);
        if (!match) return reject(new Error(`no HTTP answer (${label}): ${JSON.stringify(raw.slice(0, 200))}`));
        const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
        const start = head.length + 4;
        resolve({
          status: Number(match[1]),
          contentType: /\r\ncontent-type: *([^\r]+)/i.exec(head)?.[1],
          body: Buffer.from(raw.slice(start, start + length), 'latin1').toString('utf8'),
        });
      });
      if (halfClose) socket.end(request);
      else socket.write(request);
    }),
    label,
  );
}

function httpRequest(c: FuzzCase): Buffer {
  const headers = { host: '127.0.0.1', connection: 'close', 'content-length': String(c.body.length), ...c.headers };
  const head = `POST ${c.url} HTTP/1.1\r\n${Object.entries(headers)
    .map(([k, v]) => `${k}: ${v}`)
    .join('\r\n')}\r\n\r\n`;
  return Buffer.concat([Buffer.from(head, 'latin1'), c.body]);
}

describe('ingest under malformed input', () => {
  let h: IngestHarness;
  let app: Server;
  let port: number;
  let generated: ReturnType<typeof categories>;
  let fixed: FuzzCase[];

  beforeAll(async () => {
    h = await startIngestHarness('fuzz');
    app = h.buildApp();
    const url = new URL((await h.serve(app))('/'));
    port = Number(url.port);
    generated = categories(h.apiKey);
    fixed = extremes(h.apiKey, h.maxPayload);
  });

  afterAll(async () => {
    await h.close();
  });

  async function runCategory(category: ReturnType<typeof categories>[number]): Promise<void> {
    await fc.assert(
      fc.asyncProperty(category.cases, async (c) => checkAnswer(c, await injectCase(app, c))),
      { seed: SEED, numRuns: category.runs },
    );
  }

  async function runCorpus(): Promise<number> {
    let count = 0;
    for (const category of generated) {
      await runCategory(category);
      count += category.runs;
    }
    for (const c of fixed) checkAnswer(c, await injectCase(app, c));
    return count + fixed.length;
  }

  it('has thousands of cases', () => {
    expect(generated.reduce((n, c) => n + c.runs, 0) + fixed.length).toBeGreaterThanOrEqual(3_000);
  });

  it.each([
    'random bytes',
    'invalid UTF-8',
    'truncated JSON and forms',
    'wrong types in events',
    'wrong types in identifications',
    'anything where anything is carried along',
    'content types and encodings',
    'Content-Length lies',
  ])('%s: a 4xx Amplitude answer, never a 5xx', async (name) => {
    const category = generated.find((c) => c.name === name);
    expect(category).toBeDefined();
    await runCategory(category!);
  });

  it('extremes (huge, deep, bombs, prototype keys) and past regressions', async () => {
    for (const c of fixed) checkAnswer(c, await injectCase(app, c));
  });

  it('answers the same over a real socket, including what Node’s HTTP parser refuses', async () => {
    const sampled = generated
      .filter((c) => c.name !== 'Content-Length lies')
      .flatMap((c) => fc.sample(c.cases, { seed: SEED, numRuns: 40 }));
    // A shorter Content-Length leaves bytes unread when the server closes, which may reset the
    // connection before the answer is read: those stay with inject.
    const lies = fc
      .sample(generated.find((c) => c.name === 'Content-Length lies')!.cases, { seed: SEED, numRuns: 80 })
      .filter((c) => !/^Content-Length (smaller|zero)/.test(c.label))
      .map((c): FuzzCase => ({ ...c, expect: 'refused' }));
    const requests: Array<[FuzzCase, Buffer]> = [...sampled, ...lies].map((c) => [c, httpRequest(c)]);
    const garbage: Array<[string, string]> = [
      ['request line that is not HTTP', 'GARBAGE\r\n\r\n'],
      ['control characters in a header', 'POST /2/httpapi HTTP/1.1\r\nHost: x\r\nX-Bad: \x01\x02\r\n\r\n'],
      ['Content-Length that is not a number', 'POST /2/httpapi HTTP/1.1\r\nHost: x\r\nContent-Length: a lot\r\n\r\n{}'],
      ['two different Content-Lengths', 'POST /batch HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}'],
      ['broken chunked encoding', 'POST /2/httpapi HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nZZZ\r\nabc\r\n0\r\n\r\n'],
      ['chunked and Content-Length together', 'POST /identify HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n'],
      ['body shorter than its Content-Length', 'POST /2/httpapi HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{"api_key":'],
      ['header section of 100 KB', `POST /2/httpapi HTTP/1.1\r\nHost: x\r\nX-Big: ${'b'.repeat(100_000)}\r\n\r\n`],
    ];
    for (const [label, text] of garbage) requests.push([{ label, url: '/2/httpapi', headers: {}, body: Buffer.alloc(0), expect: 'refused' }, Buffer.from(text, 'latin1')]);
    expect(requests.length).toBeGreaterThan(300);
    for (const [c, request] of requests) {
      const halfClose = /^Content-Length larger|shorter than its Content-Length/.test(c.label);
      checkAnswer(c, await rawExchange(port, request, `${c.url} ${c.label}`, halfClose));
    }
  });

  it('keeps its heap across a second run of the whole corpus', async () => {
    const gc = (globalThis as { gc?: () => void }).gc;
    const settledHeap = () => {
      gc?.();
      gc?.();
      return process.memoryUsage().heapUsed;
    };
    await runCorpus();
    const afterFirst = settledHeap();
    const count = await runCorpus();
    const afterSecond = settledHeap();
    expect(count).toBeGreaterThanOrEqual(3_000);
    // Only meaningful with a collectable heap (vitest.config.ts passes --expose-gc). Generous:
    // the bound is about leaks that grow per request (thousands of them), not about noise.
    if (gc) expect(afterSecond - afterFirst).toBeLessThan(64 * 1024 * 1024);
  });

  it('still answers /healthz and a valid request with 200 afterwards', async () => {
    expect((await app.inject('/healthz')).statusCode).toBe(200);
    const res = await fetch(`http://127.0.0.1:${port}/2/httpapi`, {
      method: 'POST',
      headers: JSON_HEADERS,
      body: JSON.stringify({ api_key: h.apiKey, events: [{ user_id: 'user-12345', event_type: 'After The Storm', insert_id: 'after-fuzz' }] }),
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ code: 200, events_ingested: 1 });
    expect((await h.stored()).filter((r) => r.event.insert_id === 'after-fuzz')).toHaveLength(1);
  });
});
