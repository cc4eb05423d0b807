// NATS for `npm start`: use the server at NATS_URL, or start a local nats-server with JetStream
// when none answers there and the binary is installed, or explain how to get one.
import { spawn } from 'node:child_process';
import { accessSync, constants, mkdirSync } from 'node:fs';
import { connect as tcpConnect } from 'node:net';
import { delimiter, join } from 'node:path';

const LOCAL_HOSTS = new Set(['127.0.0.1', 'localhost', '::1', '[::1]', '0.0.0.0']);
/** Debian/Ubuntu install nats-server in /usr/sbin, which is not on every user's PATH. */
const SYSTEM_DIRS = ['/usr/sbin', '/usr/local/sbin'];

/** A problem `npm start` reports in plain words, without a stack trace. */
export class StartError extends Error {
  name = 'StartError';
}

/** Host and port of the first server in a NATS_URL (`nats://h:p`, `h:p`, or a comma list). */
export function natsAddress(url) {
  const first = url.split(',')[0].trim();
  const parsed = new URL(first.includes('://') ? first : `nats://${first}`);
  return { host: parsed.hostname, port: Number(parsed.port || 4222) };
}

/** True when a NATS server answers at the address (its greeting starts with INFO). */
export function natsReachable(url, timeoutMs = 2000) {
  const { host, port } = natsAddress(url);
  return new Promise((resolve) => {
    const socket = tcpConnect({ host: host.replace(/^\[|\]$/g, ''), port });
    const done = (ok) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('data', (chunk) => done(chunk.toString().startsWith('INFO')));
    socket.once('error', () => done(false));
  });
}

/** The nats-server executable: on PATH, else where Debian puts it; undefined when absent. */
export function findNatsServer(pathValue = process.env.PATH ?? '', extraDirs = SYSTEM_DIRS) {
  const dirs = [...pathValue.split(delimiter).filter(Boolean), ...extraDirs];
  for (const dir of dirs) {
    const candidate = join(dir, 'nats-server');
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      /* not here */
    }
  }
  return undefined;
}

/** What to tell someone who has no NATS server. */
export function installAdvice(url) {
  return (
    `Cannot reach NATS at ${url}, and no nats-server is installed to start one.\n` +
    'inkstream needs a NATS server with JetStream. Install one and run npm start again\n' +
    '(it starts nats-server itself when it finds it), or start it yourself:\n' +
    '  Debian/Ubuntu:  sudo apt install nats-server      (then: nats-server -js)\n' +
    '  macOS:          brew install nats-server          (then: nats-server -js)\n' +
    '  Docker:         docker run -d -p 4222:4222 nats:2 -js\n' +
    '  other systems:  https://docs.nats.io/running-a-nats-service/introduction/installation\n' +
    'or point NATS_URL at a server you have.'
  );
}

/**
 * Makes sure a NATS server answers at `url`. When none does, the host is this machine and a
 * nats-server binary is found, starts one with JetStream on that port, its store under
 * `<dataDir>/nats`, its log lines passed to `onLine`. Resolves to `{ started: false }` or to
 * `{ started: true, binary, storeDir, pid, stop(), kill() }`; `stop()` ends the server gracefully
 * (SIGTERM, SIGKILL after 10 s). Throws StartError with advice when nothing can be done.
 */
export async function ensureNats({ url, dataDir, onLine = () => {}, pathValue, extraDirs, readyTimeoutMs = 20_000 }) {
  if (await natsReachable(url)) return { started: false };
  const { host, port } = natsAddress(url);
  if (!LOCAL_HOSTS.has(host)) {
    throw new StartError(`Cannot reach NATS at ${url}. Start that server (with JetStream: nats-server -js) or point NATS_URL at one that runs.`);
  }
  const binary = findNatsServer(pathValue, extraDirs);
  if (!binary) throw new StartError(installAdvice(url));

  const storeDir = join(dataDir, 'nats');
  mkdirSync(storeDir, { recursive: true });
  const bindHost = host === 'localhost' ? '127.0.0.1' : host.replace(/^\[|\]$/g, '');
  // Its own process group: the Ctrl-C a terminal sends to npm start's group must not stop NATS
  // before the services have drained into it; npm start stops it after them.
  const child = spawn(binary, ['-js', '-a', bindHost, '-p', String(port), '-sd', storeDir, '-n', 'inkstream-local'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let output = '';
  const collect = (stream) => {
    let buffer = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk) => {
      output += chunk;
      buffer += chunk;
      let i;
      while ((i = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, i).trim();
        buffer = buffer.slice(i + 1);
        if (line) onLine(line);
      }
    });
  };
  collect(child.stdout);
  collect(child.stderr);
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve(signal ?? code)));
  let gone = false;
  void exited.then(() => (gone = true));

  const deadline = Date.now() + readyTimeoutMs;
  while (!(await natsReachable(url, 500))) {
    if (gone || Date.now() > deadline) {
      if (!gone) child.kill('SIGKILL');
      throw new StartError(`nats-server (${binary}) did not start on ${bindHost}:${port}:\n${output.trim().split('\n').slice(-8).join('\n')}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    started: true,
    binary,
    storeDir,
    pid: child.pid,
    exited,
    /** For a process about to exit: signals the server without waiting. */
    kill() {
      if (!gone) child.kill('SIGTERM');
    },
    async stop() {
      if (gone) return;
      child.kill('SIGTERM');
      const force = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(force);
    },
  };
}
