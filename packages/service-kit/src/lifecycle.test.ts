import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const fixture = fileURLToPath(new URL('./lifecycle.fixture.mjs', import.meta.url));

describe('Lifecycle with telemetry', () => {
  const exported: Array<{ service: string; span: string }> = [];
  const receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString()) as {
        resourceSpans: Array<{
          resource: { attributes: Array<{ key: string; value: { stringValue?: string } }> };
          scopeSpans: Array<{ spans: Array<{ name: string }> }>;
        }>;
      };
      for (const rs of body.resourceSpans) {
        const service = rs.resource.attributes.find((a) => a.key === 'service.name')?.value.stringValue ?? '';
        for (const ss of rs.scopeSpans) for (const span of ss.spans) exported.push({ service, span: span.name });
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  let endpoint: string;

  beforeAll(async () => {
    receiver.listen(0, '127.0.0.1');
    await once(receiver, 'listening');
    endpoint = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => receiver.close(() => resolve())));

  it('exports the spans still buffered when the service stops on SIGTERM', async () => {
    const child = spawn(process.execPath, ['--import', '@inkstream/telemetry/register', fixture], {
      env: {
        PATH: process.env.PATH ?? '',
        OTEL_SERVICE_NAME: 'lifecycle-fixture',
        OTEL_EXPORTER_OTLP_ENDPOINT: endpoint,
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
        // Nothing is exported on a schedule during the test: only the shutdown flushes.
        OTEL_BSP_SCHEDULE_DELAY: '600000',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout!.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr!.on('data', (c: Buffer) => (output += c.toString()));
    const exited = once(child, 'exit');
    await new Promise<void>((resolve, reject) => {
      const look = setInterval(() => {
        if (output.includes('"ready"')) {
          clearInterval(look);
          resolve();
        }
      }, 20);
      void exited.then(() => {
        clearInterval(look);
        reject(new Error(`fixture exited before it was ready:\n${output}`));
      });
    });
    expect(exported).toEqual([]);

    child.kill('SIGTERM');
    const [code] = await exited;
    expect(code).toBe(0);
    expect(exported).toEqual([{ service: 'lifecycle-fixture', span: 'work before the stop' }]);
    expect(output).toContain('"stopped"');
    // A child process start under a busy machine can take seconds.
  }, 60_000);
});
