import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pgliteDriver, type OpenedTestDatabase } from '../testing/drivers.js';
import { startApp, type AppHarness } from '../testing/harness.js';
import { captureLogs } from '../testing/logs.js';

type Operation = {
  tags?: string[];
  summary?: string;
  description?: string;
  security?: unknown[];
  parameters?: Array<{ name: string; in: string }>;
  requestBody?: { content: Record<string, { schema: { properties?: Record<string, unknown>; required?: string[] } }> };
  responses: Record<string, unknown>;
};
type Spec = { openapi: string; info: { title: string }; paths: Record<string, Record<string, Operation>> };

describe('OpenAPI document', () => {
  let database: OpenedTestDatabase;
  let h: AppHarness;
  let spec: Spec;

  beforeAll(async () => {
    database = await pgliteDriver.open(captureLogs().logger);
    h = await startApp(database.handle);
    spec = (await h.app.inject({ method: 'GET', url: '/openapi.json' })).json<Spec>();
  });
  afterAll(async () => {
    await h?.close();
    await database?.dispose();
  });

  it('is OpenAPI 3 and documents every admin route, and only those', () => {
    expect(spec.openapi).toMatch(/^3\./);
    expect(spec.info.title).toBe('inkstream config API');
    const operations = Object.entries(spec.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`));
    expect(operations.sort()).toEqual(
      [
        'DELETE /v1/projects/{projectId}',
        'DELETE /v1/syncs/{syncId}',
        'GET /v1/projects',
        'GET /v1/projects/{projectId}',
        'GET /v1/projects/{projectId}/event-catalog',
        'GET /v1/projects/{projectId}/recent-events',
        'GET /v1/projects/{projectId}/syncs',
        'GET /v1/syncs/{syncId}',
        'GET /v1/syncs/{syncId}/history',
        'GET /v1/syncs/{syncId}/metrics',
        'GET /v1/syncs/{syncId}/metrics/series',
        'GET /v1/syncs/{syncId}/errors',
        'GET /v1/syncs/{syncId}/dead-letters',
        'POST /v1/syncs/{syncId}/preview',
        'POST /v1/syncs/{syncId}/test',
        'POST /v1/syncs/{syncId}/dead-letters/redrive',
        'PATCH /v1/syncs/{syncId}',
        'POST /v1/projects',
        'POST /v1/projects/{projectId}/rotate-key',
        'POST /v1/projects/{projectId}/syncs',
        'POST /v1/config-bucket/reconcile',
      ].sort(),
    );
  });

  it('describes each operation with tags, text, security and its error answers', () => {
    for (const [path, ops] of Object.entries(spec.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        const name = `${method} ${path}`;
        expect(op.tags?.length, name).toBeGreaterThan(0);
        expect(op.summary, name).toBeTruthy();
        expect(op.description, name).toBeTruthy();
        expect(op.security, name).toEqual([{ adminToken: [] }]);
        expect(Object.keys(op.responses), name).toEqual(expect.arrayContaining(['401', '503']));
      }
    }
  });

  it('documents the sync body and the If-Match header', () => {
    const create = spec.paths['/v1/projects/{projectId}/syncs']!.post!;
    const schema = create.requestBody!.content['application/json']!.schema;
    expect(Object.keys(schema.properties!)).toEqual(
      expect.arrayContaining(['name', 'endpointUrl', 'authorization', 'eventFilters', 'delivery']),
    );
    expect(schema.required).toEqual(['name', 'endpointUrl', 'authorization']);
    const patch = spec.paths['/v1/syncs/{syncId}']!.patch!;
    expect(patch.parameters).toContainEqual(expect.objectContaining({ name: 'if-match', in: 'header' }));
    expect(Object.keys(patch.responses)).toEqual(expect.arrayContaining(['200', '400', '404', '409']));
  });

  it('documents the query parameters of the delivery views', () => {
    const names = (path: string) => (spec.paths[path]!.get!.parameters ?? []).filter((p) => p.in === 'query').map((p) => p.name);
    expect(names('/v1/syncs/{syncId}/metrics')).toEqual(['period', 'start', 'end']);
    expect(names('/v1/syncs/{syncId}/errors')).toEqual(['limit']);
    expect(names('/v1/syncs/{syncId}/dead-letters')).toEqual(['limit', 'cursor']);
  });

  it('serves Swagger UI at /docs', async () => {
    const res = await h.app.inject({ method: 'GET', url: '/docs/' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toContain('text/html');
  });
});
