import { readFileSync } from 'node:fs';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { Server } from '@inkstream/service-kit';

const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
  version: string;
};

export const ADMIN_SECURITY = [{ adminToken: [] }];

/**
 * OpenAPI 3 generated from the route schemas, at GET /openapi.json, and Swagger UI at /docs.
 * Must be registered before the routes it documents.
 */
export async function registerOpenApi(app: Server): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'inkstream config API',
        description:
          'Projects and their Movable Ink syncs. Every /v1 route needs `Authorization: Bearer <ADMIN_TOKEN>`.',
        version,
      },
      tags: [
        { name: 'projects', description: 'A project owns an api key that SDKs send events with' },
        { name: 'syncs', description: 'A Movable Ink destination of a project, and tools to try it' },
        { name: 'delivery', description: 'How delivery to a sync goes: metrics, failed attempts, dead letters and redrive' },
        { name: 'operations', description: 'What the service does at start, on demand' },
      ],
      components: {
        securitySchemes: { adminToken: { type: 'http', scheme: 'bearer', description: 'ADMIN_TOKEN' } },
      },
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
}
