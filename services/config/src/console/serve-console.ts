import { existsSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { Server } from '@inkstream/service-kit';
import { response } from '../http/error-response.js';
import { consoleHeaders, fallbackFor } from './console-headers.js';

/**
 * Where the build of packages/console lands, seen from this file once compiled
 * (services/config/dist/console/): the same in the repository and in the Docker image.
 */
export const DEFAULT_CONSOLE_DIR = fileURLToPath(new URL('../../../../packages/console/dist', import.meta.url));

/**
 * The web console at `/console`: the static build, strict headers, and the app's page for every
 * other path below it (client-side routes). Without a build it answers 404 saying so, and the
 * API works as ever.
 */
export function consoleRoutes(options: { dir: string; onMissing?: (dir: string) => void }) {
  return async (app: Server): Promise<void> => {
    const indexPath = join(options.dir, 'index.html');
    if (!existsSync(indexPath)) {
      options.onMissing?.(options.dir);
      const missing = response(404, 'The web console is not built here: run `npm run build` (packages/console)');
      app.get('/console', { schema: { hide: true } }, async (_request, reply) => reply.code(404).send(missing));
      app.get('/console/*', { schema: { hide: true } }, async (_request, reply) => reply.code(404).send(missing));
      return;
    }
    const index = readFileSync(indexPath);
    const sendIndex = (reply: import('fastify').FastifyReply) =>
      reply.headers(consoleHeaders('index.html')).type('text/html; charset=utf-8').send(index);

    await app.register(fastifyStatic, {
      root: options.dir,
      prefix: '/console/',
      // One route per built file; anything else reaches the fallback below.
      wildcard: false,
      index: false,
      decorateReply: false,
      cacheControl: false,
      dotfiles: 'deny',
      setHeaders: (reply, path) => {
        reply.headers(consoleHeaders(relative(options.dir, path)));
      },
    });
    app.get('/console', { schema: { hide: true } }, async (_request, reply) => reply.redirect('/console/'));
    app.get('/console/', { schema: { hide: true } }, async (_request, reply) => sendIndex(reply));
    app.get('/console/*', { schema: { hide: true } }, async (request, reply) => {
      const rest = (request.params as { '*': string })['*'];
      if (fallbackFor(rest) === 'index') return sendIndex(reply);
      return reply.code(404).send(response(404, `Route GET ${request.url.split('?')[0]} not found`));
    });
  };
}
