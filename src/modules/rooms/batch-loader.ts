interface Waiter<V> {
  promise: Promise<V>;
  resolve(value: V): void;
  reject(error: unknown): void;
  /** The data changed while the query ran: its answer may predate the change. */
  stale: boolean;
}

/**
 * Collects the keys asked for during one turn of the event loop and fetches them with one query;
 * while a query runs, newly asked keys wait for the next one. A thousand connections arriving
 * together, even spread over a few seconds, then cost a few `$in` queries instead of a thousand,
 * which matters most on the embedded FerretDB, where every such query scans its collection.
 */
export class BatchLoader<V> {
  private queued = new Map<string, Waiter<V>>();
  private readonly inFlight = new Map<string, Waiter<V>>();
  private scheduled = false;
  private fetching = false;

  /** `fetch` answers every key it is given (missing ones with an empty value); `loaded` sees each answer first. */
  constructor(
    private readonly fetch: (keys: string[]) => Promise<Map<string, V>>,
    private readonly loaded: (key: string, value: V) => void,
  ) {}

  load(key: string): Promise<V> {
    const existing = this.queued.get(key) ?? this.inFlight.get(key);
    if (existing) return existing.promise;
    let resolve!: Waiter<V>['resolve'];
    let reject!: Waiter<V>['reject'];
    const promise = new Promise<V>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    this.queued.set(key, { promise, resolve, reject, stale: false });
    this.schedule();
    return promise;
  }

  /** A change to `key` was written: an answer already on its way is fetched again. */
  invalidate(key: string): void {
    const waiter = this.inFlight.get(key);
    if (waiter) waiter.stale = true;
  }

  private schedule(): void {
    if (this.scheduled || this.fetching) return;
    this.scheduled = true;
    setImmediate(() => void this.run());
  }

  private async run(): Promise<void> {
    this.scheduled = false;
    this.fetching = true;
    try {
      await this.fetchQueued();
    } finally {
      this.fetching = false;
      if (this.queued.size > 0) this.schedule();
    }
  }

  private async fetchQueued(): Promise<void> {
    const batch = this.queued;
    this.queued = new Map();
    for (const [key, waiter] of batch) this.inFlight.set(key, waiter);
    let values: Map<string, V>;
    try {
      values = await this.fetch([...batch.keys()]);
    } catch (error) {
      for (const [key, waiter] of batch) {
        this.inFlight.delete(key);
        waiter.reject(error);
      }
      return;
    }
    for (const [key, waiter] of batch) {
      this.inFlight.delete(key);
      if (waiter.stale) {
        waiter.stale = false;
        this.queued.set(key, waiter);
        continue;
      }
      const value = values.get(key)!;
      this.loaded(key, value);
      waiter.resolve(value);
    }
  }
}
