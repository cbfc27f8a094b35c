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
    return this.runAll([key], work);
  }

  /**
   * Runs `work` once every earlier holder of any of `keys` is done, holding all of them. The
   * queues it waits on are taken when it is called, so two multi-key holders never wait on each
   * other in a circle.
   */
  runAll<T>(keys: readonly string[], work: () => Promise<T>): Promise<T> {
    const unique = [...new Set(keys)];
    const previous = unique.length === 1 ? (this.tails.get(unique[0]!) ?? Promise.resolve()) : Promise.all(unique.map((key) => this.tails.get(key)));
    // Tails never reject, so `work` runs exactly once whatever happened to the holders before.
    const result = previous.then(work);
    const tail = result.then(
      () => undefined,
      () => undefined,
    );
    for (const key of unique) this.tails.set(key, tail);
    void tail.then(() => {
      for (const key of unique) if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return result;
  }
}
