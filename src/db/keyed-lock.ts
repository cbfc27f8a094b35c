/**
 * Runs async work one at a time per key, in arrival order.
 *
 * The embedded FerretDB 1.24 applies an update by reading the document, changing it in Go and
 * writing the whole document back, without a lock: measured on it, 50 concurrent `$inc`s on one
 * document left 2, and two concurrent `$set`s of different fields lost one in 20 of 30
 * documents. Repos that update a document from several requests at once queue those writes per
 * document id here. That makes them safe within one process (the one that owns the embedded
 * database); MongoDB does not need it and pays only a map lookup.
 */
export class KeyedLock {
  private readonly tails = new Map<string, Promise<unknown>>();

  run<T>(key: string, work: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    const result = previous.then(work, work);
    const tail = result.then(
      () => undefined,
      () => undefined,
    );
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return result;
  }
}
