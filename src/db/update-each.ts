import type { AnyBulkWriteOperation, Collection, Document, ObjectId, UpdateFilter } from 'mongodb';
import type { KeyedLock } from './keyed-lock.js';

/**
 * Updates per `update` command. FerretDB 1.24 (SQLite) keeps a query open for every update of a
 * command until the command ends and then needs one more pooled connection for its transaction:
 * a command of 100 updates exhausts its pool of 100 and waits for itself, and the whole embedded
 * database hangs with it (seen with 100 active rooms).
 */
const UPDATES_PER_COMMAND = 16;

/**
 * Applies `update` (or what it returns for the id) to each document of `ids`, one `_id`-addressed
 * update per document (the only filter FerretDB answers without reading the whole collection;
 * `{_id: {$in}}` reads it all), in commands of UPDATES_PER_COMMAND, each holding its documents'
 * place in `lock`.
 */
export async function updateEachById<T extends Document & { _id: ObjectId }>(
  collection: Collection<T>,
  lock: KeyedLock,
  ids: readonly ObjectId[],
  update: UpdateFilter<T> | ((id: ObjectId) => UpdateFilter<T>),
): Promise<void> {
  const updateOf = typeof update === 'function' ? update : () => update;
  for (let i = 0; i < ids.length; i += UPDATES_PER_COMMAND) {
    const chunk = ids.slice(i, i + UPDATES_PER_COMMAND);
    const updates = chunk.map((_id) => ({ updateOne: { filter: { _id }, update: updateOf(_id) } }) as AnyBulkWriteOperation<T>);
    await lock.runAll(
      chunk.map((id) => id.toHexString()),
      () => collection.bulkWrite(updates, { ordered: false }),
    );
  }
}
