// A single-consumer async queue: the engine pushes, a request's iterator pulls.
export class AsyncQueue<T> implements AsyncIterable<T> {
  private readonly items: T[] = [];
  private waiter: ((r: IteratorResult<T>) => void) | null = null;
  private closed = false;
  private failure: Error | null = null;
  private failWaiter: ((e: Error) => void) | null = null;

  push(item: T): void {
    if (this.closed) return;
    const w = this.waiter;
    if (w) {
      this.waiter = null;
      this.failWaiter = null;
      w({ value: item, done: false });
    } else {
      this.items.push(item);
    }
  }

  /** No more items; the iterator ends after draining what is queued. */
  close(): void {
    this.closed = true;
    const w = this.waiter;
    if (w && this.items.length === 0) {
      this.waiter = null;
      this.failWaiter = null;
      w({ value: undefined, done: true });
    }
  }

  /** The iterator throws `err` after draining what is queued. */
  fail(err: Error): void {
    this.failure = err;
    this.closed = true;
    const fw = this.failWaiter;
    if (fw && this.items.length === 0) {
      this.waiter = null;
      this.failWaiter = null;
      fw(err);
    }
  }

  private next(): Promise<IteratorResult<T>> {
    const item = this.items.shift();
    if (item !== undefined) return Promise.resolve({ value: item, done: false });
    if (this.failure) return Promise.reject(this.failure);
    if (this.closed) return Promise.resolve({ value: undefined, done: true });
    return new Promise<IteratorResult<T>>((resolve, reject) => {
      this.waiter = resolve;
      this.failWaiter = reject;
    });
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    return {
      next: () => this.next(),
      return: () => {
        this.closed = true;
        this.items.length = 0;
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }
}
