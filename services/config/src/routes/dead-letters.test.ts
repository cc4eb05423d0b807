import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AckPolicy, DeliverPolicy } from '@nats-io/jetstream';
import { decodeJson, partitionOf } from '@inkstream/bus';
import type { DeliveryJob } from '@inkstream/contracts';
import { deadLetter, deliveryJob, publishDeadLetters } from '../testing/delivery-facts.js';
import { postgresDriver, type OpenedTestDatabase } from '../testing/drivers.js';
import { startApp, syncBody, type AppHarness } from '../testing/harness.js';
import { captureLogs } from '../testing/logs.js';
import { openTestNats, type TestNats } from '../testing/nats.js';

const unknownId = '00000000-0000-4000-8000-000000000000';

interface Page {
  items: Array<{ id: string; messageId: string; [field: string]: unknown }>;
  nextCursor: string | null;
}

describe('dead letters', () => {
  let database: OpenedTestDatabase;
  let nats: TestNats;
  let h: AppHarness;
  let projectId: string;

  beforeAll(async () => {
    const logs = captureLogs();
    database = await postgresDriver.open(logs.logger);
    nats = await openTestNats(logs.logger);
    h = await startApp(database.handle, { nats });
    projectId = (await h.api('POST', '/v1/projects', { name: 'Shop' })).json<{ id: string }>().id;
  });
  afterAll(async () => {
    await h?.close();
    await nats?.dispose();
    await database?.dispose();
  });

  const newSync = async () => (await h.api('POST', `/v1/projects/${projectId}/syncs`, syncBody({ enabled: true }))).json<{ id: string }>().id;
  const page = async (syncId: string, query = '') => {
    const res = await h.api('GET', `/v1/syncs/${syncId}/dead-letters${query}`);
    expect(res.statusCode, res.body).toBe(200);
    return res.json<Page>();
  };
  const allIds = async (syncId: string) => (await page(syncId, '?limit=500')).items.map((item) => item.id);
  /**
   * What is queued for a sync on the delivery stream: subject, job and JetStream message id,
   * read (never acknowledged) through a consumer of its own — the stream is a work queue.
   */
  const queued = async (syncId: string) => {
    const stream = nats.topology.streams.delivery.name;
    const { name } = await nats.bus.jsm.consumers.add(stream, {
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      filter_subject: nats.topology.subjects.deliveryOfSync(syncId),
    });
    try {
      const consumer = await nats.bus.js.consumers.get(stream, name);
      const pending = (await consumer.info()).num_pending;
      const out: Array<{ subject: string; job: DeliveryJob; msgId: string | undefined }> = [];
      if (pending === 0) return out;
      for await (const msg of await consumer.fetch({ max_messages: pending, expires: 10_000 })) {
        out.push({ subject: msg.subject, job: decodeJson<DeliveryJob>(msg.data), msgId: msg.headers?.get('Nats-Msg-Id') });
        if (out.length === pending) break;
      }
      return out;
    } finally {
      await nats.bus.jsm.consumers.delete(stream, name);
    }
  };

  it('lists a sync’s dead letters, oldest first, in pages', async () => {
    const sync = await newSync();
    const other = await newSync();
    const letters = Array.from({ length: 7 }, (_, n) => deadLetter(deliveryJob(sync, n), n === 6 ? { reason: 'expired', lastStatus: undefined, lastResponse: 'ETIMEDOUT: timed out', attempts: 9, traceId: undefined } : {}));
    const seqs: number[] = [];
    for (const [i, letter] of letters.entries()) {
      seqs.push(...(await publishDeadLetters(nats, [letter])));
      if (i % 2 === 0) await publishDeadLetters(nats, [deadLetter(deliveryJob(other, 100 + i))]);
    }

    const first = await page(sync, '?limit=3');
    expect(first.items.map((i) => i.id)).toEqual(seqs.slice(0, 3).map(String));
    expect(first.nextCursor).toBe(String(seqs[2]));
    const job = letters[0]!.job;
    expect(first.items[0]).toEqual({
      id: String(seqs[0]),
      payload: job.payload,
      payloadType: 'track',
      messageId: job.messageId,
      reason: 'rejected',
      lastStatus: 400,
      lastResponse: '{"error":"bad payload"}',
      attempts: 1,
      firstAttemptAt: new Date(job.receivedAt + 10).toISOString(),
      lastAttemptAt: new Date(job.receivedAt + 10).toISOString(),
      deadAt: new Date(job.receivedAt + 20).toISOString(),
      traceId: '0af7651916cd43dd8448eb211c80319c',
    });

    const second = await page(sync, `?limit=3&cursor=${first.nextCursor}`);
    expect(second.items.map((i) => i.id)).toEqual(seqs.slice(3, 6).map(String));
    const third = await page(sync, `?limit=3&cursor=${second.nextCursor}`);
    expect(third.items.map((i) => i.id)).toEqual([String(seqs[6])]);
    expect(third.nextCursor).toBeNull();
    expect(third.items[0]).toMatchObject({ reason: 'expired', lastStatus: null, lastResponse: 'ETIMEDOUT: timed out', attempts: 9, traceId: null });

    expect((await page(sync)).items).toHaveLength(7);
    expect(await allIds(other)).toHaveLength(4);
    expect(await page(await newSync())).toEqual({ items: [], nextCursor: null });
  });

  it('sends the listed ones again, unchanged, to this sync only', async () => {
    const sync = await newSync();
    const other = await newSync();
    const jobs = Array.from({ length: 4 }, (_, n) => deliveryJob(sync, n));
    const seqs = await publishDeadLetters(nats, jobs.map((job) => deadLetter(job)));
    const [otherSeq] = await publishDeadLetters(nats, [deadLetter(deliveryJob(other, 50))]);

    const res = await h.api('POST', `/v1/syncs/${sync}/dead-letters/redrive`, {
      ids: [String(seqs[1]), String(seqs[3]), String(otherSeq), '999999'],
    });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toEqual({ redriven: 2, notFound: [String(otherSeq), '999999'] });

    const delivered = await queued(sync);
    expect(delivered).toEqual(
      [1, 3].map((n) => ({
        subject: nats.topology.subjects.delivery(sync, partitionOf(jobs[n]!.userKey)),
        job: jobs[n],
        msgId: `${jobs[n]!.messageId}:redrive:${seqs[n]}`,
      })),
    );
    expect(await allIds(sync)).toEqual([String(seqs[0]), String(seqs[2])]);
    expect(await allIds(other)).toEqual([String(otherSeq)]);
    expect(await queued(other)).toEqual([]);
  });

  it('sends all of them again when no ids are given, leaving other syncs’ letters', async () => {
    const sync = await newSync();
    const other = await newSync();
    const jobs = Array.from({ length: 620 }, (_, n) => deliveryJob(sync, n));
    await publishDeadLetters(nats, jobs.slice(0, 300).map((job) => deadLetter(job)));
    const [otherSeq] = await publishDeadLetters(nats, [deadLetter(deliveryJob(other, 7))]);
    await publishDeadLetters(nats, jobs.slice(300).map((job) => deadLetter(job)));

    const res = await h.api('POST', `/v1/syncs/${sync}/dead-letters/redrive`);
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toEqual({ redriven: 620, notFound: [] });
    expect(await allIds(sync)).toEqual([]);
    expect(await allIds(other)).toEqual([String(otherSeq)]);
    const delivered = await queued(sync);
    expect(delivered.map((d) => d.job)).toEqual(jobs);
  });

  it('moves a letter once when two redrives race for it', async () => {
    const sync = await newSync();
    const [seq] = await publishDeadLetters(nats, [deadLetter(deliveryJob(sync, 1))]);
    const body = { ids: [String(seq)] };
    const results = await Promise.all([
      h.api('POST', `/v1/syncs/${sync}/dead-letters/redrive`, body),
      h.api('POST', `/v1/syncs/${sync}/dead-letters/redrive`, body),
    ]);
    const answers = results.map((r) => r.json<{ redriven: number; notFound: string[] }>());
    expect(answers.reduce((sum, a) => sum + a.redriven, 0)).toBe(1);
    expect(await queued(sync)).toHaveLength(1);
  });

  it('lists but does not redrive the letters of a deleted sync', async () => {
    const sync = await newSync();
    const [seq] = await publishDeadLetters(nats, [deadLetter(deliveryJob(sync, 1), { reason: 'sync deleted', lastStatus: undefined })]);
    expect((await h.api('DELETE', `/v1/syncs/${sync}`)).statusCode).toBe(204);
    expect(await allIds(sync)).toEqual([String(seq)]);
    const res = await h.api('POST', `/v1/syncs/${sync}/dead-letters/redrive`, {});
    expect(res.statusCode).toBe(409);
    expect(res.json().message).toBe(`sync ${sync} is deleted; its dead letters can be read but not redriven`);
    expect(await allIds(sync)).toEqual([String(seq)]);
  });

  it('404s for an unknown sync', async () => {
    expect((await h.api('GET', `/v1/syncs/${unknownId}/dead-letters`)).statusCode).toBe(404);
    expect((await h.api('POST', `/v1/syncs/${unknownId}/dead-letters/redrive`, {})).statusCode).toBe(404);
  });

  it.each<[string, string, unknown, string]>([
    ['GET', '?limit=501', undefined, 'querystring/limit must be <= 500'],
    ['GET', '?limit=0', undefined, 'querystring/limit must be >= 1'],
    ['GET', '?cursor=abc', undefined, 'querystring/cursor must match pattern "^[0-9]{1,16}$"'],
    ['POST', '', { ids: [] }, 'body/ids must NOT have fewer than 1 items'],
    ['POST', '', { ids: ['x1'] }, 'body/ids/0 must match pattern "^[0-9]{1,16}$"'],
    ['POST', '', { ids: [1] }, 'body/ids/0 must be string'],
    ['POST', '', { ids: ['1', '1'] }, 'body/ids must NOT have duplicate items (items ## 1 and 0 are identical)'],
    ['POST', '', { all: true }, "body must NOT have additional property 'all'"],
  ])('%s refuses %s %j naming the field', async (method, query, body, message) => {
    const url = method === 'GET' ? `/v1/syncs/${unknownId}/dead-letters${query}` : `/v1/syncs/${unknownId}/dead-letters/redrive`;
    const res = await h.api(method as 'GET' | 'POST', url, body);
    expect(res.statusCode).toBe(400);
    expect(res.json()).toEqual({ statusCode: 400, error: 'Bad Request', message });
  });
});
