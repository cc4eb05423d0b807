#!/usr/bin/env node
// `npm start`: runs the four services as separate processes with readable, prefixed logs.
// Generates ADMIN_TOKEN and SECRET_KEY into ./.data on first run (never a new SECRET_KEY over an
// existing database), starts a local nats-server when none answers at NATS_URL (or says how to
// get one), prints the URLs, and stops everything cleanly on Ctrl-C.
import { spawn } from 'node:child_process';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { StartError, ensureNats } from './start/nats.mjs';
import { loadOrCreateSecrets } from './start/secrets.mjs';

const root = join(fileURLToPath(new URL('.', import.meta.url)), '..');
// INKSTREAM_DATA_DIR moves everything npm start keeps (secrets, PGlite, NATS store); tests use it.
const dataDir = resolve(process.env.INKSTREAM_DATA_DIR || join(root, '.data'));
const secretsFile = join(dataDir, 'secrets.env');
const useColor = process.stdout.isTTY && !process.env.NO_COLOR;
const paint = (code, text) => (useColor ? `\x1b[${code}m${text}\x1b[0m` : text);

const services = [
  { name: 'config', color: 35, portVar: 'CONFIG_PORT', port: 8081 },
  { name: 'ingest', color: 36, portVar: 'INGEST_PORT', port: 8080 },
  { name: 'filter', color: 33, portVar: 'FILTER_PORT', port: 8082 },
  { name: 'delivery', color: 32, portVar: 'DELIVERY_PORT', port: 8083 },
];

/** Turns a pino JSON line into `12:00:01 INFO  [ingest] message key=value`. */
function formatLine(name, color, line) {
  const prefix = paint(color, `[${name}]`.padEnd(10));
  let entry;
  try {
    entry = JSON.parse(line);
  } catch {
    return `${prefix} ${line}`;
  }
  if (typeof entry !== 'object' || entry === null) return `${prefix} ${line}`;
  const { time, level, msg, service: _s, name: _n, pid: _p, hostname: _h, ...rest } = entry;
  const clock = typeof time === 'string' ? time.slice(11, 19) : '';
  const lvl = String(level ?? 'info').toUpperCase().padEnd(5);
  const lvlColored = /ERROR|FATAL/.test(lvl) ? paint(31, lvl) : /WARN/.test(lvl) ? paint(33, lvl) : lvl;
  const extras = Object.entries(rest)
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
  return `${paint(90, clock)} ${lvlColored} ${prefix} ${msg ?? ''}${extras ? ` ${paint(90, extras)}` : ''}`;
}

function pipeLines(stream, name, color, out) {
  let buffer = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk) => {
    buffer += chunk;
    let i;
    while ((i = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, i);
      buffer = buffer.slice(i + 1);
      if (line.trim()) out.write(`${formatLine(name, color, line)}\n`);
    }
  });
  stream.on('end', () => buffer.trim() && out.write(`${formatLine(name, color, buffer)}\n`));
}

/** Where the services send their spans, as the OTEL_* variables say (packages/telemetry). */
function tracesDestination(env) {
  const exporter = (env.OTEL_TRACES_EXPORTER ?? '').trim();
  if (exporter && exporter !== 'otlp') return `OTEL_TRACES_EXPORTER=${exporter}`;
  const endpoint = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT || env.OTEL_EXPORTER_OTLP_ENDPOINT;
  return endpoint ? `OTLP → ${endpoint}` : 'recorded, not exported (set OTEL_EXPORTER_OTLP_ENDPOINT)';
}

async function main() {
  const natsUrl = process.env.NATS_URL || 'nats://127.0.0.1:4222';
  const pgliteDir = process.env.PGLITE_DIR ?? join(dataDir, 'pglite');
  // Secrets first: refusing to start over a database whose key is lost must not leave a NATS behind.
  const { generated, notes, ...secrets } = loadOrCreateSecrets({ dataDir, secretsFile, pgliteDir });
  if (generated.length > 0) console.log(paint(90, `generated ${generated.join(' and ')} into ${secretsFile}`));
  for (const note of notes) console.log(paint(33, note));

  const natsColor = 34;
  const nats = await ensureNats({
    url: natsUrl,
    dataDir,
    onLine: (line) => process.stdout.write(`${paint(natsColor, '[nats]'.padEnd(10))} ${paint(90, line)}\n`),
  });
  if (nats.started) {
    // However npm start ends (an error, a second Ctrl-C), the server it started goes with it.
    process.on('exit', () => nats.kill());
    console.log(
      `${paint(natsColor, '[nats]'.padEnd(10))} nothing answered at ${natsUrl}: started ${nats.binary} (pid ${nats.pid}) with JetStream, ` +
        `store in ${nats.storeDir}; Ctrl-C stops it with the services`,
    );
  }
  const env = {
    ...process.env,
    ...secrets,
    NATS_URL: natsUrl,
    ALLOW_PRIVATE_ENDPOINTS: process.env.ALLOW_PRIVATE_ENDPOINTS ?? 'true',
    PGLITE_DIR: pgliteDir,
  };
  const ports = Object.fromEntries(services.map((s) => [s.name, Number(env[s.portVar] ?? s.port)]));

  const children = new Map();
  let stopping = false;
  const stopAll = (code) => {
    if (stopping) return;
    stopping = true;
    console.log(paint(90, '\nstopping inkstream…'));
    for (const child of children.values()) child.kill('SIGTERM');
    const force = setTimeout(() => {
      for (const child of children.values()) child.kill('SIGKILL');
    }, 20_000);
    force.unref();
    // The services drain into NATS first; a NATS started here stops after them.
    const wait = () => {
      if (children.size > 0) return void setTimeout(wait, 100);
      const stopNats = nats.started ? nats.stop() : Promise.resolve();
      void stopNats.finally(() => process.exit(code));
    };
    wait();
  };
  process.on('SIGINT', () => stopAll(0));
  process.on('SIGTERM', () => stopAll(0));

  for (const service of services) {
    // Telemetry starts before the service's modules load (packages/telemetry/src/register.ts).
    const args = ['--enable-source-maps', '--import', '@inkstream/telemetry/register', join(root, 'services', service.name, 'dist', 'index.js')];
    const child = spawn(process.execPath, args, {
      cwd: root,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.set(service.name, child);
    pipeLines(child.stdout, service.name, service.color, process.stdout);
    pipeLines(child.stderr, service.name, service.color, process.stderr);
    child.on('exit', (code, signal) => {
      children.delete(service.name);
      if (!stopping) {
        console.error(paint(31, `[${service.name}] exited (${signal ?? `code ${code}`}); stopping the others`));
        stopAll(1);
      }
    });
  }

  // A first start on a busy machine (PGlite initialising, migrations) can take a while: after a
  // minute say who is still starting, and keep waiting until they are ready or one exits.
  const slowAfter = Date.now() + 60_000;
  let saidSlow = false;
  const pending = new Set(services.map((s) => s.name));
  while (pending.size > 0 && !stopping) {
    for (const name of [...pending]) {
      try {
        const res = await fetch(`http://127.0.0.1:${ports[name]}/readyz`, { signal: AbortSignal.timeout(2_000) });
        if (res.ok) pending.delete(name);
      } catch {
        /* not listening yet */
      }
    }
    if (pending.size > 0 && !saidSlow && Date.now() > slowAfter) {
      saidSlow = true;
      console.error(paint(33, `not ready after 60 s: ${[...pending].join(', ')}; still waiting (Ctrl-C stops everything)`));
    }
    if (pending.size > 0) await new Promise((r) => setTimeout(r, 300));
  }
  if (stopping) return;
  const line = '─'.repeat(72);
  console.log(
    [
      '',
      line,
      ' inkstream is running',
      `   ingest (Amplitude API)  http://127.0.0.1:${ports.ingest}/2/httpapi   /batch   /identify`,
      `   config API              http://127.0.0.1:${ports.config}/v1   docs: http://127.0.0.1:${ports.config}/docs`,
      `   web console             http://127.0.0.1:${ports.config}/console`,
      `   filter                  http://127.0.0.1:${ports.filter}/metrics`,
      `   delivery                http://127.0.0.1:${ports.delivery}/metrics`,
      `   ADMIN_TOKEN             ${secrets.ADMIN_TOKEN}`,
      `   secrets file            ${secretsFile}`,
      `   database                ${env.DATABASE_URL ? 'DATABASE_URL' : `embedded PGlite in ${env.PGLITE_DIR}`}`,
      `   NATS                    ${natsUrl}${nats.started ? ` (started here, store in ${nats.storeDir})` : ''}`,
      `   traces                  ${tracesDestination(env)}`,
      ' Ctrl-C stops everything.',
      line,
      '',
    ].join('\n'),
  );
}

main().catch((err) => {
  if (err instanceof StartError) console.error(`\n${err.message}\n`);
  else console.error(err);
  process.exit(1);
});
