import { ObjectId } from 'mongodb';

/**
 * Message ids that only ever grow. History, `since` and `before` cursors compare ids, so a new
 * message must sort after every stored one. A fresh ObjectId can sort lower when its 3-byte
 * counter wraps within a second, or after a restart within the same second (the new process has
 * other random bytes); then the id one above the last is used instead.
 */
export class MonotonicIds {
  private last: ObjectId | undefined;

  /** Starts above an id already stored (the newest message at start-up). */
  seed(newest: ObjectId | null): void {
    if (newest && (!this.last || Buffer.compare(newest.id, this.last.id) > 0)) this.last = newest;
  }

  next(): ObjectId {
    let id = new ObjectId();
    if (this.last && Buffer.compare(id.id, this.last.id) <= 0) id = successor(this.last);
    this.last = id;
    return id;
  }
}

function successor(id: ObjectId): ObjectId {
  const bytes = Buffer.from(id.id);
  for (let i = bytes.length - 1; i >= 0; i -= 1) {
    bytes[i] = (bytes[i]! + 1) & 0xff;
    if (bytes[i] !== 0) break;
  }
  return new ObjectId(bytes);
}
