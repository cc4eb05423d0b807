/**
 * Runs tasks one after another per key (a user) and concurrently across keys: a user's events
 * keep their order while other users flow. A task whose lane is free starts at once, in the
 * caller's turn (and context); a busy lane's next task follows its tail with one promise. A task
 * that throws or rejects does not stop its lane: the next task runs all the same, and the error
 * goes to the task's caller. Lanes are dropped as soon as they are empty. The filter and delivery
 * run one per user; the filter also holds many lanes with one promise (`hold`).
 */
export class KeyedLanes {
  private readonly tails = new Map<string, Promise<void>>();

  /** Lanes with a task running or waiting. */
  get size(): number {
    return this.tails.size;
  }

  /** What a task run now on the lane would wait for: undefined when the lane is idle. */
  tail(key: string): Promise<void> | undefined {
    return this.tails.get(key);
  }

  /**
   * Makes `done` the tail of the lanes of `owners` (by their `lane` key), as if a task returning
   * `done` were run on each: for work run without a task per lane (the filter runs a message's
   * lanes together), one promise for all of them. `done` must settle only after the tails it
   * replaces (the caller waits for them first).
   */
  hold(owners: ReadonlyArray<{ lane: string }>, done: Promise<void>): void {
    for (const { lane } of owners) this.tails.set(lane, done);
    const settled = () => {
      for (const { lane } of owners) if (this.tails.get(lane) === done) this.tails.delete(lane);
    };
    done.then(settled, settled);
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
