/**
 * Runs tasks one after another per key (a user) and concurrently across keys, like the bus's
 * KeyedLanes, with fewer promises per task: a task whose key has nothing running starts at
 * once (synchronously, in the caller's turn and context), and a lane costs one promise more
 * than the task's own. A task runs after the previous one of its key settled, fulfilled or
 * rejected. Lanes are dropped as soon as they are empty.
 */
export class UserLanes {
  private readonly tails = new Map<string, Promise<void>>();

  get size(): number {
    return this.tails.size;
  }

  run(key: string, task: () => Promise<void>): Promise<void> {
    const previous = this.tails.get(key);
    const next = previous === undefined ? start(task) : previous.then(task);
    const tail: Promise<void> = next.then(
      () => this.drop(key, tail),
      () => this.drop(key, tail),
    );
    this.tails.set(key, tail);
    return next;
  }

  private drop(key: string, tail: Promise<void>): void {
    if (this.tails.get(key) === tail) this.tails.delete(key);
  }
}

/** The task's promise, a synchronous throw included as a rejection. */
function start(task: () => Promise<void>): Promise<void> {
  try {
    return task();
  } catch (err) {
    return Promise.reject(err);
  }
}
