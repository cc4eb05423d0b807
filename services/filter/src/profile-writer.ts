import { Buffer } from 'node:buffer';
import type { KV, LeanPublisher } from '@inkstream/bus';

/**
 * How the profile store writes one profile: a KV put conditional on the key's revision
 * (`previousSeq`: the revision last read or written, 0 for a key never stored). Resolves to the
 * new revision; rejects with a JetStreamApiError whose `code` is 10071 when the revision moved,
 * with anything else when the put failed (it may have been stored all the same).
 */
export interface ProfileWriter {
  put(key: string, serialized: string, previousSeq: number): Promise<number>;
}

/** Through the KV client: one `js.publish` request per put (its own timer, deferred, Error). */
export function kvProfileWriter(kv: KV): ProfileWriter {
  return { put: (key, serialized, previousSeq) => kv.put(key, serialized, { previousSeq }) };
}

/** What @nats-io/kv accepts as a key (validateKey). */
const VALID_KEY = /^[-/=.\w]+$/;

/** The bucket's configuration is one the lean writer cannot write the way the KV client would. */
export class UnsupportedProfileBucketError extends Error {
  constructor(bucket: string, why: string) {
    super(`profiles bucket ${bucket}: ${why}; the lean profile writer does not support it`);
    this.name = 'UnsupportedProfileBucketError';
  }
}

/** What the lean writer reads of an @nats-io/kv Bucket handle (public fields of the class). */
interface BucketHandle {
  bucket: string;
  stream: string;
  prefix: string;
  editPrefix: string;
  useJsPrefix: boolean;
  codec: { value: { encode(v: Uint8Array): Uint8Array } };
  encodeKey(key: string): string;
  subjectForKey(key: string, edit?: boolean): string;
}

/**
 * Profile puts as plain publishes through a LeanPublisher (shared reply inbox, acknowledgements
 * matched, one sweeping timer) straight to the bucket's stream subject `$KV.<bucket>.<key>`,
 * with the header `Nats-Expected-Last-Subject-Sequence: <previousSeq>` — exactly what
 * `kv.put(key, value, { previousSeq })` sends (`kv.create` is the same with 0; a key whose last
 * entry is a delete or purge marker is written conditional on the marker's revision, which
 * `load` reads as the key's revision). Open it with `openLeanProfileWriter`, which refuses a
 * bucket it cannot write as the KV client would.
 */
export class LeanProfileWriter implements ProfileWriter {
  constructor(
    private readonly publisher: LeanPublisher,
    /** `$KV.<bucket>.`: the subject of a key is this and the key. */
    readonly subjectPrefix: string,
  ) {}

  put(key: string, serialized: string, previousSeq: number): Promise<number> {
    // The KV client's check: a key that is no subject token (a wildcard, a space…) is never sent.
    if (key.startsWith('.') || key.endsWith('.') || !VALID_KEY.test(key)) return Promise.reject(new Error(`invalid key: ${key}`));
    return this.publisher
      .publish(this.subjectPrefix + key, Buffer.from(serialized), { expectedLastSubjectSequence: previousSeq })
      .then((ack) => ack.seq);
  }
}

/**
 * A LeanProfileWriter for a bucket opened with the KV client (`kvm.create`/`openBucket`), after
 * checking the bucket is one it writes as the KV client would: its own stream storing
 * `$KV.<bucket>.>` on this account's default JetStream API (no domain or API prefix), not a
 * mirror (writes would go to the origin, whose revisions are not the mirror's: the fence would
 * compare the wrong numbers), keys and values not encoded by a codec. Throws
 * UnsupportedProfileBucketError otherwise: call it at start-up.
 */
export async function openLeanProfileWriter(kv: KV, publisher: LeanPublisher): Promise<LeanProfileWriter> {
  const b = kv as unknown as Partial<BucketHandle>;
  const name = typeof b.bucket === 'string' ? b.bucket : '(unknown)';
  if (typeof b.subjectForKey !== 'function' || typeof b.encodeKey !== 'function' || typeof b.bucket !== 'string') {
    throw new UnsupportedProfileBucketError(name, 'the handle is not an @nats-io/kv Bucket');
  }
  if (b.useJsPrefix) throw new UnsupportedProfileBucketError(name, 'it is reached through a JetStream domain or API prefix');
  if (b.editPrefix) throw new UnsupportedProfileBucketError(name, `it mirrors another bucket (writes go to ${b.editPrefix})`);
  const probe = 'Probe-0_9/=';
  if (b.encodeKey(probe) !== probe) throw new UnsupportedProfileBucketError(name, 'its keys are encoded by a codec');
  const value = new Uint8Array(1);
  if (b.codec?.value.encode(value) !== value) throw new UnsupportedProfileBucketError(name, 'its values are encoded by a codec');
  const subjectPrefix = `$KV.${name}.`;
  const editSubject = b.subjectForKey(probe, true);
  if (editSubject !== subjectPrefix + probe) {
    throw new UnsupportedProfileBucketError(name, `the KV client writes its keys to ${editSubject}, not ${subjectPrefix}<key>`);
  }
  const { config } = (await kv.status()).streamInfo;
  if (config.mirror) throw new UnsupportedProfileBucketError(name, `its stream mirrors ${config.mirror.name}`);
  if (!config.subjects?.includes(`$KV.${name}.>`)) {
    throw new UnsupportedProfileBucketError(name, `its stream ${config.name} does not store $KV.${name}.> (subjects: ${config.subjects?.join(', ') ?? 'none'})`);
  }
  return new LeanProfileWriter(publisher, subjectPrefix);
}
