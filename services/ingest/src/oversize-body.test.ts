/**
 * Issue 12, item 7: a body past the limit gets a 413 the client can read, every time, whatever
 * the client: one that reads only after sending everything, Node's http client with and without
 * keep-alive, undici; plain and gzip bodies of 1.2–3 MB on every endpoint; sent at network pace
 * (chunks with pauses), which is what made a server that answers and closes at once reset the
 * connection under the unread answer (EPIPE / ECONNRESET instead of the 413).
 */
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { connect } from 'node:net';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { Agent, request as undiciRequest } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startIngestHarness, type IngestHarness } from './test-support/ingest-harness.js';

const LIMIT = 1_000_000;
const SIZES = [1_200_000, 2_000_000, 3_000_000];
const ENDPOINTS = ['/2/httpapi', '/batch', '/identify'] as const;
const REPEATS = 5;
const CHUNK = 64 * 1024;
const TOO_LARGE = { code: 413, error: 'Payload too large' };

type Endpoint = (typeof ENDPOINTS)[number];
interface Answer {
  status: number;
  body: string;
  connection: string | undefined;
}

const pause = () => new Promise((resolve) => setTimeout(resolve, 1));
/** A pause every 256 KB: the server has answered long before the client is done sending. */
const pacedEvery = (i: number) => i % (4 * CHUNK) === 0;

/** A body of about `size` bytes on the wire for the endpoint, gzip-encoded or not. */
function oversizeBody(endpoint: Endpoint, size: number, gzip: boolean, apiKey: string): { body: Buffer; headers: Record<string, string> } {
  // Random base64 barely compresses: the gzip body is as large on the wire.
  const padding = randomBytes(Math.ceil(((gzip ? size / 0.76 : size) * 3) / 4)).toString('base64');
  const event = { user_id: 'user-12345', event_type: 'Oversize', event_properties: { padding } };
  const text =
    endpoint === '/identify'
      ? new URLSearchParams({ api_key: apiKey, identification: JSON.stringify(event) }).toString()
      : JSON.stringify({ api_key: apiKey, events: [event] });
  const headers: Record<string, string> = {
    'content-type': endpoint === '/identify' ? 'application/x-www-form-urlencoded' : 'application/json',
  };
  if (gzip) headers['content-encoding'] = 'gzip';
  const body = gzip ? gzipSync(text) : Buffer.from(text);
  expect(body.length).toBeGreaterThan(LIMIT * 1.1);
  return { body, headers };
}

/** Sends the whole request at network pace, and only then reads the answer (many SDKs do). */
function writeAllThenRead(port: number, path: string, body: Buffer, headers: Record<string, string>, then?: Buffer): Promise<Answer[]> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    socket.pause();
    socket.once('error', reject);
    const write = (data: Buffer | string) => new Promise<void>((done, fail) => socket.write(data, (err) => (err ? fail(err) : done())));
    socket.once('connect', async () => {
      try {
        const head = Object.entries({ host: '127.0.0.1', ...headers, 'content-length': String(body.length) })
          .map(([k, v]) => `${k}: ${v}\r\n`)
          .join('');
        await write(`POST ${path} HTTP/1.1\r\n${head}\r\n`);
        for (let i = 0; i < body.length; i += CHUNK) {
          if (pacedEvery(i)) await pause();
          await write(body.subarray(i, i + CHUNK));
        }
        if (then) await write(then);
      } catch (err) {
        reject(err as Error);
        return;
      }
      let received = Buffer.alloc(0);
      const answers: Answer[] = [];
      socket.on('data', (chunk: Buffer) => {
        received = Buffer.concat([received, chunk]);
        for (;;) {
          const end = received.indexOf('\r\n\r\n');
          if (end === -1) break;
          const head = received.subarray(0, end).toString();
          const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
          if (received.length < end + 4 + length) break;
          answers.push({
            status: Number(head.split(' ')[1]),
            connection: /\r\nconnection: *([^\r]+)/i.exec(head)?.[1],
            body: received.subarray(end + 4, end + 4 + length).toString(),
          });
          received = received.subarray(end + 4 + length);
        }
        if (answers.length === (then ? 2 : 1)) {
          socket.destroy();
          resolve(answers);
        }
      });
      socket.once('end', () => resolve(answers));
      socket.resume();
    });
  });
}

/** Node's http client, writing at network pace; any 'error' event fails the request. */
function nodeHttpPost(url: string, body: Buffer, headers: Record<string, string>, agent: http.Agent | false): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST', agent, headers: { ...headers, 'content-length': String(body.length) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.once('end', () => resolve({ status: res.statusCode!, body: Buffer.concat(chunks).toString(), connection: res.headers.connection }));
      res.once('error', reject);
    });
    req.once('error', reject);
    void (async () => {
      for (let i = 0; i < body.length && !req.destroyed; i += CHUNK) {
        if (!req.write(body.subarray(i, i + CHUNK))) await new Promise((r) => req.once('drain', r));
        if (pacedEvery(i)) await pause();
      }
      req.end();
    })();
  });
}

async function undiciPost(url: string, body: Buffer, headers: Record<string, string>, dispatcher: Agent): Promise<Answer> {
  async function* paced() {
    for (let i = 0; i < body.length; i += CHUNK) {
      if (pacedEvery(i)) await pause();
      yield body.subarray(i, i + CHUNK);
    }
  }
  const res = await undiciRequest(url, { method: 'POST', headers: { ...headers, 'content-length': String(body.length) }, body: Readable.from(paced()), dispatcher });
  const connection = res.headers.connection;
  return { status: res.statusCode, body: await res.body.text(), connection: typeof connection === 'string' ? connection : undefined };
}

describe('oversize bodies get a readable 413', () => {
  let h: IngestHarness;
  let url: (path: string) => string;
  let port: number;
  const keepAlive = new http.Agent({ keepAlive: true, maxSockets: 4 });
  const dispatcher = new Agent({ connections: 4 });

  beforeAll(async () => {
    h = await startIngestHarness('oversize');
    // /batch with the same 1 MB limit, so the same 1.2–3 MB bodies are oversize there too.
    const app = h.buildApp({ maxBodyBytes: LIMIT, maxBatchBodyBytes: LIMIT });
    url = await h.serve(app);
    port = Number(new URL(url('/')).port);
  });

  afterAll(async () => {
    keepAlive.destroy();
    await dispatcher.close();
    await h.close();
  });

  const cases = ENDPOINTS.flatMap((endpoint) => SIZES.flatMap((size) => [false, true].map((gzip) => ({ endpoint, size, gzip }))));
  const bodies = new Map<string, ReturnType<typeof oversizeBody>>();
  const bodyOf = (c: (typeof cases)[number]) => {
    const key = `${c.endpoint} ${c.size} ${c.gzip}`;
    if (!bodies.has(key)) bodies.set(key, oversizeBody(c.endpoint, c.size, c.gzip, h.apiKey));
    return bodies.get(key)!;
  };

  const expectTooLarge = (answer: Answer, where: string) => {
    expect(answer.status, where).toBe(413);
    expect(JSON.parse(answer.body), where).toEqual(TOO_LARGE);
  };

  it('a client that reads only after sending everything reads the 413, and the connection stays usable', async () => {
    const next = (path: string) => {
      const small = JSON.stringify({ api_key: h.apiKey, events: [{ user_id: 'user-12345', event_type: 'After 413' }] });
      return Buffer.from(`POST ${path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: ${small.length}\r\n\r\n${small}`);
    };
    for (let round = 0; round < REPEATS; round++) {
      for (const { endpoint, size, gzip } of cases) {
        const where = `${endpoint} ${size} gzip=${gzip} round ${round}`;
        const { body, headers } = bodyOf({ endpoint, size, gzip });
        const [tooLarge, after] = await writeAllThenRead(port, endpoint, body, headers, endpoint === '/identify' ? undefined : next(endpoint));
        expectTooLarge(tooLarge!, where);
        expect(tooLarge!.connection, where).not.toBe('close');
        if (after) expect(after.status, `${where}: the next request on the same connection`).toBe(200);
      }
    }
  });

  it('a client that asks for Connection: close still reads the 413', async () => {
    for (let round = 0; round < REPEATS; round++) {
      for (const { endpoint, size, gzip } of cases) {
        const { body, headers } = bodyOf({ endpoint, size, gzip });
        const [answer] = await writeAllThenRead(port, endpoint, body, { ...headers, connection: 'close' });
        expectTooLarge(answer!, `${endpoint} ${size} gzip=${gzip} round ${round}`);
      }
    }
  });

  it.each([
    ['without keep-alive', false as const],
    ['with keep-alive', 'keep-alive' as const],
  ])('Node http client %s: every request reads its 413, none errors', async (_label, mode) => {
    for (let round = 0; round < REPEATS; round++) {
      // Four at a time, as an SDK with parallel flushes would.
      const answers = await Promise.all(
        cases.map(async ({ endpoint, size, gzip }) => {
          const { body, headers } = bodyOf({ endpoint, size, gzip });
          const where = `${endpoint} ${size} gzip=${gzip} round ${round}`;
          return { where, answer: await nodeHttpPost(url(endpoint), body, headers, mode === 'keep-alive' ? keepAlive : false).catch((err: Error) => err) };
        }),
      );
      for (const { where, answer } of answers) {
        expect(answer, where).not.toBeInstanceOf(Error);
        expectTooLarge(answer as Answer, where);
      }
    }
  });

  it('undici: every request reads its 413, none errors', async () => {
    for (let round = 0; round < REPEATS; round++) {
      const answers = await Promise.all(
        cases.map(async ({ endpoint, size, gzip }) => {
          const { body, headers } = bodyOf({ endpoint, size, gzip });
          const where = `${endpoint} ${size} gzip=${gzip} round ${round}`;
          return { where, answer: await undiciPost(url(endpoint), body, headers, dispatcher).catch((err: Error) => err) };
        }),
      );
      for (const { where, answer } of answers) {
        expect(answer, where).not.toBeInstanceOf(Error);
        expectTooLarge(answer as Answer, where);
      }
    }
  });

  it('nothing of a refused body is stored', async () => {
    const stored = await h.stored();
    expect(stored.filter((r) => r.event.event_type === 'Oversize')).toEqual([]);
    expect(stored.filter((r) => r.event.event_type === 'After 413').length).toBeGreaterThan(0);
  });
});
