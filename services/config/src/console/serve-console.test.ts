import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMetricsRegistry, createServer, type Server } from '@inkstream/service-kit';
import { captureLogs } from '../testing/logs.js';
import { CONSOLE_CSP } from './console-headers.js';
import { consoleRoutes } from './serve-console.js';

const INDEX = '<!doctype html><title>inkstream</title><script type="module" src="/console/assets/index-abc123.js"></script>';

async function appOver(dir: string, onMissing?: (dir: string) => void): Promise<Server> {
  const logs = captureLogs();
  const app = createServer({ service: 'config', logger: logs.logger, metrics: createMetricsRegistry('config') });
  await app.register(consoleRoutes({ dir, ...(onMissing ? { onMissing } : {}) }));
  await app.ready();
  return app;
}

describe('the console at /console', () => {
  let dir: string;
  let app: Server;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'console-'));
    mkdirSync(join(dir, 'assets'));
    writeFileSync(join(dir, 'index.html'), INDEX);
    writeFileSync(join(dir, 'assets', 'index-abc123.js'), 'console.log("hi")');
    writeFileSync(join(dir, 'assets', 'index-abc123.css'), 'body{}');
    writeFileSync(join(dir, 'favicon.svg'), '<svg xmlns="http://www.w3.org/2000/svg"/>');
    app = await appOver(dir);
  });
  afterAll(async () => {
    await app?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves the page, revalidated every time, with a strict policy', async () => {
    const res = await app.inject({ method: 'GET', url: '/console/' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toContain('text/html');
    expect(res.headers['cache-control']).toBe('no-cache');
    expect(res.headers['content-security-policy']).toBe(CONSOLE_CSP);
    expect(res.body).toBe(INDEX);
    const bare = await app.inject({ method: 'GET', url: '/console' });
    expect(bare.statusCode).toBe(302);
    expect(bare.headers.location).toBe('/console/');
  });

  it('serves hashed assets as immutable, with their types', async () => {
    const js = await app.inject({ method: 'GET', url: '/console/assets/index-abc123.js' });
    expect(js.statusCode).toBe(200);
    expect(js.headers['content-type']).toMatch(/javascript/);
    expect(js.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    expect(js.headers['x-content-type-options']).toBe('nosniff');
    const css = await app.inject({ method: 'GET', url: '/console/assets/index-abc123.css' });
    expect(css.headers['content-type']).toMatch(/text\/css/);
    const icon = await app.inject({ method: 'GET', url: '/console/favicon.svg' });
    expect(icon.statusCode).toBe(200);
    expect(icon.headers['cache-control']).toBe('no-cache');
  });

  it("answers the app's own routes with the page, and missing files with 404", async () => {
    for (const url of ['/console/projects', '/console/projects/4b6e/syncs/new', '/console/syncs/1f0c?tab=monitoring']) {
      const res = await app.inject({ method: 'GET', url });
      expect(res.statusCode, url).toBe(200);
      expect(res.body).toBe(INDEX);
    }
    for (const url of ['/console/assets/index-old.js', '/console/robots.txt', '/console/../package.json', '/console/assets/..%2f..%2fetc%2fpasswd']) {
      const res = await app.inject({ method: 'GET', url });
      expect(res.statusCode, url).toBe(404);
      expect(res.body).not.toContain('<!doctype');
    }
  });

  it('says the console is not built when the folder has no page, and the service still starts', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'console-empty-'));
    const missing: string[] = [];
    const bare = await appOver(empty, (d) => missing.push(d));
    try {
      expect(missing).toEqual([empty]);
      const res = await bare.inject({ method: 'GET', url: '/console/' });
      expect(res.statusCode).toBe(404);
      expect(res.json<{ message: string }>().message).toContain('not built');
    } finally {
      await bare.close();
      rmSync(empty, { recursive: true, force: true });
    }
  });
});
