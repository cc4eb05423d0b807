import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testDrivers, type OpenedTestDatabase } from '../testing/drivers.js';
import { ENDPOINT_URL, startApp, syncBody, type AppHarness } from '../testing/harness.js';
import { captureLogs } from '../testing/logs.js';

// Every config route, fed wrong types, odd strings (lone surrogates, NUL), huge values and deep
// nesting: each answer is a 4xx (or a success), never a 5xx. Seeded, so a failure reproduces.

/** mulberry32: small, seedable, good enough to pick cases. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const ODD_STRINGS = ['\ud800', '\udfff', 'a\u0000b', '\u0000', 'ok\ud83d', '\ude00x', 'tail\u0000'];
const WRONG_VALUES: unknown[] = [null, true, false, 0, -1, 1.5, 1e308, '', 'x', [], {}, [null], { a: 1 }, '9'.repeat(400)];

const validSync = {
  ...syncBody({ enabled: false }),
  eventFilters: [
    { eventType: 'Product Viewed', where: [{ propertyType: 'event', property: 'price', operator: 'greater', values: [10, 20] }] },
    { eventType: 'Order Completed' },
  ],
  eventProperties: ['product_id', 'price'],
  sendUsers: true,
  userProperties: ['email'],
  delivery: { batchSize: 1, maxConcurrency: 4 },
};
const validPreview = {
  event: { event_type: 'Product Viewed', user_id: 'user-12345', event_properties: { price: 12, tags: ['a'] }, user_properties: { email: 'a@b.c' } },
};

interface Route {
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  /** `:project` and `:sync` are replaced by live ids (or by odd ones). */
  path: string;
  body?: unknown;
  query?: Record<string, string>;
}

const ROUTES: Route[] = [
  { method: 'POST', path: '/v1/projects', body: { name: 'Shop' } },
  { method: 'GET', path: '/v1/projects' },
  { method: 'GET', path: '/v1/projects/:project' },
  { method: 'POST', path: '/v1/projects/:project/rotate-key' },
  { method: 'POST', path: '/v1/projects/:project/syncs', body: validSync },
  { method: 'GET', path: '/v1/projects/:project/syncs' },
  { method: 'GET', path: '/v1/syncs/:sync' },
  { method: 'PATCH', path: '/v1/syncs/:sync', body: { name: 'renamed', eventProperties: ['a'], delivery: { maxConcurrency: 2 } } },
  { method: 'GET', path: '/v1/syncs/:sync/history' },
  { method: 'POST', path: '/v1/syncs/:sync/preview', body: validPreview },
  { method: 'GET', path: '/v1/syncs/:sync/metrics', query: { period: 'ONE_HOUR' } },
  { method: 'GET', path: '/v1/syncs/:sync/errors', query: { limit: '5' } },
  { method: 'GET', path: '/v1/syncs/:sync/dead-letters', query: { limit: '5' } },
  { method: 'POST', path: '/v1/syncs/:sync/dead-letters/redrive', body: { ids: ['1'] } },
  { method: 'POST', path: '/v1/config-bucket/reconcile' },
  { method: 'DELETE', path: '/v1/syncs/:sync' },
  { method: 'DELETE', path: '/v1/projects/:project' },
];

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** Every path to a leaf of a JSON value (objects and arrays included). */
function pathsOf(value: unknown, at: string[] = [], out: string[][] = []): string[][] {
  out.push(at);
  if (value && typeof value === 'object') {
    for (const [key, child] of Object.entries(value)) pathsOf(child, [...at, key], out);
  }
  return out;
}

function replaceAt(value: unknown, path: string[], replacement: unknown): unknown {
  if (path.length === 0) return replacement;
  const copy: Record<string, unknown> | unknown[] = Array.isArray(value) ? [...value] : { ...(value as Record<string, unknown>) };
  const [head, ...rest] = path;
  (copy as Record<string, unknown>)[head!] = replaceAt((value as Record<string, unknown>)[head!], rest, replacement);
  return copy;
}

function renameKeyAt(value: unknown, path: string[], newKey: string): unknown {
  if (path.length === 0) {
    if (!value || typeof value !== 'object' || Array.isArray(value)) return value;
    const entries = Object.entries(value);
    if (entries.length === 0) return { [newKey]: 1 };
    return Object.fromEntries([[newKey, entries[0]![1]], ...entries.slice(1)]);
  }
  const [head, ...rest] = path;
  const copy: Record<string, unknown> | unknown[] = Array.isArray(value) ? [...value] : { ...(value as Record<string, unknown>) };
  (copy as Record<string, unknown>)[head!] = renameKeyAt((value as Record<string, unknown>)[head!], rest, newKey);
  return copy;
}

function nested(depth: number): string {
  return `${'['.repeat(depth)}1${']'.repeat(depth)}`;
}

interface Case {
  label: string;
  method: Route['method'];
  url: string;
  /** Raw JSON text (so lone surrogates travel as `\ud800` escapes) or nothing. */
  payload?: string;
  contentType?: string;
}

/** JSON.stringify writes lone surrogates as `\udXXX` escapes, as a client's JSON would. */
const json = (value: unknown) => JSON.stringify(value);

function casesFor(route: Route, ids: { project: string; sync: string }, next: () => number): Case[] {
  const pick = <T>(list: readonly T[]): T => list[Math.floor(next() * list.length)]!;
  const url = (project = ids.project, sync = ids.sync, query = route.query) => {
    const path = route.path.replace(':project', project).replace(':sync', sync);
    const qs = query ? `?${new URLSearchParams(query).toString()}` : '';
    return `${path}${qs}`;
  };
  const cases: Case[] = [];
  const base = { method: route.method };
  if (route.body !== undefined) {
    const paths = pathsOf(route.body);
    for (let i = 0; i < 12; i++) {
      const path = pick(paths);
      cases.push({ ...base, label: `odd string at ${path.join('/')}`, url: url(), payload: json(replaceAt(route.body, path, pick(ODD_STRINGS))) });
      cases.push({ ...base, label: `wrong type at ${path.join('/')}`, url: url(), payload: json(replaceAt(route.body, path, pick(WRONG_VALUES))) });
    }
    const objects = paths.filter((p) => {
      let v: unknown = route.body;
      for (const k of p) v = (v as Record<string, unknown>)[k];
      return v !== null && typeof v === 'object' && !Array.isArray(v);
    });
    for (let i = 0; i < 4; i++) {
      const path = pick(objects);
      cases.push({ ...base, label: `odd key in ${path.join('/')}`, url: url(), payload: json(renameKeyAt(route.body, path, pick(ODD_STRINGS))) });
    }
    const leaf = pick(paths.filter((p) => p.length > 0));
    cases.push({ ...base, label: `huge string at ${leaf.join('/')}`, url: url(), payload: json(replaceAt(route.body, leaf, 'x'.repeat(900_000))) });
    cases.push({ ...base, label: `long odd string at ${leaf.join('/')}`, url: url(), payload: json(replaceAt(route.body, leaf, `${'y'.repeat(5000)}\ud800`)) });
    cases.push({ ...base, label: 'body over the size limit', url: url(), payload: json({ name: 'z'.repeat(2_000_000) }) });
    cases.push({ ...base, label: 'huge array', url: url(), payload: json(replaceAt(route.body, leaf, Array.from({ length: 50_000 }, (_, i) => i))) });
    cases.push({ ...base, label: 'deep nesting (100)', url: url(), payload: json(replaceAt(route.body, leaf, JSON.parse(nested(100)))) });
    cases.push({ ...base, label: 'deep nesting (100000), raw', url: url(), payload: nested(100_000) });
    cases.push({ ...base, label: 'deep object nesting, raw', url: url(), payload: `${'{"a":'.repeat(50_000)}1${'}'.repeat(50_000)}` });
  }
  for (const body of [...WRONG_VALUES, ...ODD_STRINGS]) {
    cases.push({ ...base, label: `body ${JSON.stringify(body).slice(0, 30)}`, url: url(), payload: json(body) });
  }
  cases.push({ ...base, label: 'invalid JSON', url: url(), payload: '{"name": "\\ud800' });
  cases.push({ ...base, label: 'invalid escape', url: url(), payload: '{"name": "\\x00"}' });
  cases.push({ ...base, label: 'raw NUL byte in JSON', url: url(), payload: '{"name": "a\u0000b"}' });
  cases.push({ ...base, label: 'not JSON', url: url(), payload: 'name=x', contentType: 'application/x-www-form-urlencoded' });
  cases.push({ ...base, label: 'text/plain', url: url(), payload: 'hello', contentType: 'text/plain' });
  for (const odd of ['%00', '%ED%A0%80', '%F0', 'x'.repeat(5000), '..', '%2F', '00000000-0000-4000-8000-000000000000']) {
    if (route.path.includes(':project')) cases.push({ ...base, label: `project id ${odd.slice(0, 20)}`, url: url(odd) });
    if (route.path.includes(':sync')) cases.push({ ...base, label: `sync id ${odd.slice(0, 20)}`, url: url(undefined, odd) });
  }
  for (const value of ['%00', '%ED%A0%80', '-1', '1e99', 'NaN', '', 'x'.repeat(5000), '\ud800']) {
    for (const name of ['limit', 'cursor', 'period', 'start', 'end', 'other']) {
      if (next() < 0.35) {
        const path = route.path.replace(':project', ids.project).replace(':sync', ids.sync);
        const encoded = value.startsWith('%') ? value : encodeURIComponent(value.replace(/[\ud800-\udfff]/g, 'x')) + (value.includes('\ud800') ? '%ED%A0%80' : '');
        cases.push({ ...base, label: `query ${name}=${value.slice(0, 20)}`, url: `${path}?${name}=${encoded}` });
      }
    }
  }
  return cases;
}

describe.each(testDrivers)('fuzzing every config route on $name', (driver) => {
  let database: OpenedTestDatabase;
  let h: AppHarness;

  beforeAll(async () => {
    database = await driver.open(captureLogs().logger);
    h = await startApp(database.handle, { allowPrivateEndpoints: true });
  });
  afterAll(async () => {
    await h?.close();
    await database?.dispose();
  });

  const fresh = async () => {
    const project = (await h.api('POST', '/v1/projects', { name: 'Fuzz' })).json<{ id: string }>().id;
    const sync = await h.api('POST', `/v1/projects/${project}/syncs`, validSync);
    expect(sync.statusCode, sync.body).toBe(201);
    return { project, sync: sync.json<{ id: string }>().id };
  };

  it('answers every generated request without a 5xx', { timeout: 600_000 }, async () => {
    const next = random(driver.name === 'postgres' ? 12 : 34);
    const failures: string[] = [];
    let requests = 0;
    for (const route of ROUTES) {
      const ids = await fresh();
      for (const c of casesFor(route, ids, next)) {
        const res = await h.app.inject({
          method: c.method,
          url: c.url,
          headers: {
            authorization: `Bearer ${h.adminToken}`,
            ...(c.payload !== undefined ? { 'content-type': c.contentType ?? 'application/json' } : {}),
          },
          ...(c.payload !== undefined ? { payload: c.payload } : {}),
        });
        requests += 1;
        if (res.statusCode >= 500) failures.push(`${c.method} ${route.path} ${c.label}: ${res.statusCode} ${res.body.slice(0, 200)}`);
      }
    }
    expect(requests).toBeGreaterThan(500);
    expect(failures).toEqual([]);
    // The service still works afterwards.
    await fresh();
  });
});

describe.each(testDrivers)('odd strings in stored fields on $name', (driver) => {
  let database: OpenedTestDatabase;
  let h: AppHarness;
  let projectId: string;

  beforeAll(async () => {
    database = await driver.open(captureLogs().logger);
    h = await startApp(database.handle);
    projectId = (await h.api('POST', '/v1/projects', { name: 'Shop' })).json<{ id: string }>().id;
  });
  afterAll(async () => {
    await h?.close();
    await database?.dispose();
  });

  const raw = (method: 'POST' | 'PATCH', url: string, text: string) =>
    h.app.inject({ method, url, headers: { authorization: `Bearer ${h.adminToken}`, 'content-type': 'application/json' }, payload: text });

  it.each([
    ['name', '{"name":"shop \\ud800","endpointUrl":"URL","authorization":"Basic x"}', 'body/name must not contain an unpaired UTF-16 surrogate (U+D800)'],
    ['name (NUL)', '{"name":"shop \\u0000","endpointUrl":"URL","authorization":"Basic x"}', 'body/name must not contain the NUL character (U+0000)'],
    ['authorization', '{"name":"s","endpointUrl":"URL","authorization":"Basic \\udc00"}', 'body/authorization must not contain an unpaired UTF-16 surrogate (U+DC00)'],
    [
      'accessSecret',
      '{"name":"s","endpointUrl":"URL","authorization":{"accessKeyId":"k","accessSecret":"\\u0000"}}',
      'body/authorization/accessSecret must not contain the NUL character (U+0000)',
    ],
    [
      'filter value',
      '{"name":"s","endpointUrl":"URL","authorization":"Basic x","eventFilters":[{"eventType":"a","where":[{"propertyType":"event","property":"p","operator":"is","values":["\\ud800"]}]}]}',
      'body/eventFilters/0/where/0/values/0 must not contain an unpaired UTF-16 surrogate (U+D800)',
    ],
    ['event type', '{"name":"s","endpointUrl":"URL","authorization":"Basic x","eventFilters":[{"eventType":"\\u0000"}]}', 'body/eventFilters/0/eventType must not contain the NUL character (U+0000)'],
    ['property name', '{"name":"s","endpointUrl":"URL","authorization":"Basic x","userProperties":["ok","\\udfff"]}', 'body/userProperties/1 must not contain an unpaired UTF-16 surrogate (U+DFFF)'],
  ])('a sync whose %s holds one gets a 400 naming the field, and nothing is stored', async (_field, body, message) => {
    const before = (await h.api('GET', `/v1/projects/${projectId}/syncs`)).json<unknown[]>().length;
    const res = await raw('POST', `/v1/projects/${projectId}/syncs`, body.replace('URL', ENDPOINT_URL));
    expect(res.statusCode, res.body).toBe(400);
    expect(res.json()).toEqual({ statusCode: 400, error: 'Bad Request', message });
    expect((await h.api('GET', `/v1/projects/${projectId}/syncs`)).json<unknown[]>()).toHaveLength(before);
  });

  it('refuses them in a project name and in a sync update alike', async () => {
    expect((await raw('POST', '/v1/projects', '{"name":"\\ud83d"}')).json()).toMatchObject({
      statusCode: 400,
      message: 'body/name must not contain an unpaired UTF-16 surrogate (U+D83D)',
    });
    const sync = (await h.api('POST', `/v1/projects/${projectId}/syncs`, syncBody())).json<{ id: string; version: number }>();
    const res = await raw('PATCH', `/v1/syncs/${sync.id}`, '{"eventProperties":["a\\u0000"]}');
    expect(res.statusCode).toBe(400);
    expect(res.json<{ message: string }>().message).toBe('body/eventProperties/0 must not contain the NUL character (U+0000)');
    expect((await h.api('GET', `/v1/syncs/${sync.id}`)).json()).toMatchObject({ version: sync.version, eventProperties: [] });
  });

  it('stores and returns well-formed Unicode intact: pairs, accents, control characters', async () => {
    const name = 'Shop 😀 é 漢字 \u0001\u001f\u007f \u2028';
    const values = ['😀', 'tab\there', '\uffff', '\ud83d\ude00'];
    const res = await h.api('POST', `/v1/projects/${projectId}/syncs`, syncBody({
      name,
      eventFilters: [{ eventType: '😀 viewed', where: [{ propertyType: 'event', property: 'é', operator: 'is', values }] }],
      userProperties: ['😀'],
    }));
    expect(res.statusCode, res.body).toBe(201);
    const stored = (await h.api('GET', `/v1/syncs/${res.json<{ id: string }>().id}`)).json();
    expect(stored).toMatchObject({ name, eventFilters: [{ eventType: '😀 viewed', where: [{ property: 'é', values }] }], userProperties: ['😀'] });
    const project = await h.api('POST', '/v1/projects', { name });
    expect(project.json()).toMatchObject({ name });
  });
});
