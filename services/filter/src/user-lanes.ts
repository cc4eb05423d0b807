/**
 * Runs tasks one after another per key and concurrently across keys, like `KeyedLanes` of
 * `@inkstream/bus`, with less bookkeeping per task (the filter runs one per record): a task whose
 * lane is free starts at once, in the caller's turn, and a lane costs one promise per task to
 * follow. Lanes are dropped as soon as they are empty. A task that throws or rejects does not
 * stop its lane: the next task runs all the same.
 */
export class UserLanes {
  private readonly tails = new Map<string, Promise<void>>();

  /** Lanes with a task running or waiting. */
  get size(): number {
    return this.tails.size;
  }

  run(key: string, task: () => Promise<void>): Promise<void> {
    const previous = this.tails.get(key);
    let next: Promise<void>;
    if (previous === undefined) {
      try {
        next = task();
      } catch (err) {
        next = Promise.reject(err);
      }
    } else {
      next = previous.then(task, task);
    }
    this.tails.set(key, next);
    const settled = () => {
      if (this.tails.get(key) === next) this.tails.delete(key);
    };
    next.then(settled, settled);
    return next;
  }
}
