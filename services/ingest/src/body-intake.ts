import type { Readable } from 'node:stream';

/**
 * Reading a request body so that every answer reaches the client, however early ingest
 * decides to refuse it.
 *
 * A server that answers before the body has arrived and then closes the connection makes the
 * kernel reset it when the rest of the body comes in, and the reset can throw away the answer
 * before the client has read it: the client sees EPIPE or ECONNRESET instead of a 413 (or 503)
 * and an SDK retries blindly. So a refused body is read to its end and thrown away (it costs no
 * memory), and only then is the answer sent, on a connection that stays usable. Discarding is
 * bounded in bytes and time; beyond that the answer goes out with `Connection: close`, the one
 * case where a client may still see a reset.
 */
export interface BodyIntakeLimits {
  /** Most body bytes discarded after a refusal before giving up on the connection. */
  maxDiscardBytes: number;
  /** The whole body, read or discarded, must have arrived within this. */
  timeoutMs: number;
}

export type BodyRefusal = 'too-large' | 'over-capacity' | 'timeout';

export type BodyOutcome =
  | { kind: 'body'; bytes: Buffer }
  /** `drained`: the body was read to its end, the connection can carry the answer and stay open. */
  | { kind: 'refused'; reason: BodyRefusal; drained: boolean };

export type RefusedBody = Extract<BodyOutcome, { kind: 'refused' }>;

export interface ReadBodyOptions extends BodyIntakeLimits {
  /** Most bytes kept (the route's body limit, before decoding). */
  limit: number;
  /** Content-Length, when the request declares one (not a non-negative integer: a client error). */
  declaredLength: number | undefined;
  /** Counts bytes against the in-flight budget; false when they do not fit. */
  reserve: (bytes: number) => boolean;
}

/** A client that went away mid-body: a 400-class problem, never a 5xx. */
export class BodyAbortedError extends Error {
  readonly statusCode = 400;
}

/**
 * Reads the body into memory within `limit` and the in-flight budget; otherwise discards it
 * (see above) and answers why it was refused.
 */
export function readBodyWithin(stream: Readable, options: ReadBodyOptions): Promise<BodyOutcome> {
  const { limit, declaredLength } = options;
  if (declaredLength !== undefined && !(Number.isInteger(declaredLength) && declaredLength >= 0)) {
    return Promise.reject(new BodyAbortedError('invalid Content-Length'));
  }
  let refusal: BodyRefusal | undefined;
  if (declaredLength !== undefined && declaredLength > limit) refusal = 'too-large';
  else if (declaredLength !== undefined && !options.reserve(declaredLength)) refusal = 'over-capacity';
  if (refusal && declaredLength !== undefined && declaredLength > options.maxDiscardBytes) {
    // Not worth reading: answer now and let the connection close.
    return Promise.resolve({ kind: 'refused', reason: refusal, drained: false });
  }
  const reservedUpfront = declaredLength !== undefined;

  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let received = 0;
    let settled = false;

    const finish = (outcome: BodyOutcome | Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      stream.removeListener('data', onData);
      stream.removeListener('end', onEnd);
      stream.removeListener('error', onError);
      stream.removeListener('close', onClose);
      // Whatever still arrives is thrown away until the connection ends.
      stream.on('error', () => undefined);
      stream.resume();
      if (outcome instanceof Error) reject(outcome);
      else resolve(outcome);
    };
    const refuse = (reason: BodyRefusal) => {
      refusal = reason;
      chunks.length = 0;
    };
    const onData = (chunk: Buffer) => {
      received += chunk.length;
      if (refusal) {
        if (received > options.maxDiscardBytes) finish({ kind: 'refused', reason: refusal, drained: false });
        return;
      }
      if (received > limit) return refuse('too-large');
      if (!reservedUpfront && !options.reserve(chunk.length)) return refuse('over-capacity');
      chunks.push(chunk);
    };
    const onEnd = () => {
      if (refusal) return finish({ kind: 'refused', reason: refusal, drained: true });
      // Node's HTTP parser never ends a body early; an injected request (tests) can.
      if (declaredLength !== undefined && received !== declaredLength) {
        return finish(new BodyAbortedError(`body of ${received} bytes, Content-Length says ${declaredLength}`));
      }
      finish({ kind: 'body', bytes: Buffer.concat(chunks, received) });
    };
    const onError = (err: Error) =>
      finish(refusal ? { kind: 'refused', reason: refusal, drained: false } : new BodyAbortedError(err.message));
    const onClose = () => onError(new Error('connection closed before the body ended'));
    const timer = setTimeout(() => finish({ kind: 'refused', reason: refusal ?? 'timeout', drained: false }), options.timeoutMs);
    timer.unref?.();

    stream.on('data', onData);
    stream.once('end', onEnd);
    stream.once('error', onError);
    stream.once('close', onClose);
    stream.resume();
  });
}

/**
 * Reads a body only to throw it away, for a request refused before its body was looked at
 * (ingest over capacity, JetStream unavailable): true when it ended within the limits.
 */
export async function discardBody(stream: Readable & { complete?: boolean }, limits: BodyIntakeLimits, declaredLength: number | undefined): Promise<boolean> {
  if (stream.complete || stream.readableEnded) return true;
  const outcome = await readBodyWithin(stream, { ...limits, limit: -1, declaredLength, reserve: () => true }).catch(() => undefined);
  return outcome !== undefined && (outcome.kind === 'body' || outcome.drained);
}
