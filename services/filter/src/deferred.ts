/** A promise with its resolve and reject, settled by whoever holds it. */
export interface Deferred {
  promise: Promise<void>;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/**
 * A new Deferred. Its promise never becomes an unhandled rejection: the caller hands it to those
 * who wait for it, if anyone does.
 */
export function deferred(): Deferred {
  let resolve!: () => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => undefined);
  return { promise, resolve, reject };
}
