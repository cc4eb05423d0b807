import Fastify from 'fastify';
import { Type } from '@sinclair/typebox';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { strictBodiesCoercedQueries } from './validator-compiler.js';

describe('strictBodiesCoercedQueries', () => {
  const app = Fastify({
    ajv: { customOptions: { removeAdditional: false, useDefaults: true } },
    schemaController: { compilersFactory: { buildValidator: strictBodiesCoercedQueries() } },
  });
  beforeAll(async () => {
    app.post(
      '/x',
      {
        schema: {
          querystring: Type.Object({ limit: Type.Integer({ default: 5 }), on: Type.Optional(Type.Boolean()) }),
          body: Type.Object({ name: Type.String(), count: Type.Optional(Type.Integer()) }),
        },
      },
      async (request) => ({ query: request.query, body: request.body }),
    );
    await app.ready();
  });
  afterAll(() => app.close());

  it('reads numbers and booleans from the query string, and fills in defaults', async () => {
    const res = await app.inject({ method: 'POST', url: '/x?limit=50&on=true', payload: { name: 'a' } });
    expect(res.json()).toEqual({ query: { limit: 50, on: true }, body: { name: 'a' } });
    expect((await app.inject({ method: 'POST', url: '/x', payload: { name: 'a' } })).json().query).toEqual({ limit: 5 });
  });

  it('refuses query values that are not numbers', async () => {
    const res = await app.inject({ method: 'POST', url: '/x?limit=ten', payload: { name: 'a' } });
    expect(res.statusCode).toBe(400);
    expect(res.json().message).toBe('querystring/limit must be integer');
  });

  it('does not coerce bodies', async () => {
    expect((await app.inject({ method: 'POST', url: '/x', payload: { name: 1 } })).statusCode).toBe(400);
    expect((await app.inject({ method: 'POST', url: '/x', payload: { name: 'a', count: '3' } })).statusCode).toBe(400);
  });
});
