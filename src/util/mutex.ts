// A FIFO async mutex for one process: async work interleaves at every await,
// so what must run alone (a file system operation that reads then changes
// metadata, one heartbeat slot's register writes, one journal) takes turns.
export class Mutex {
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
