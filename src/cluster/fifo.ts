// A FIFO async mutex for one process: callers that share one heartbeat slot
// (its register writes, its reservation) or one journal take turns.
export class Fifo {
  private tail: Promise<void> = Promise.resolve();

  run<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.tail.then(fn);
    this.tail = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }
}
