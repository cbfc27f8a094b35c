import { BSON, type Db, type Document, type IndexDescription, type ObjectId } from 'mongodb';
import { detectEngine, type DatabaseEngine } from '../../db/engine.js';
import { belongsOn, fitIndexes } from '../../db/index-layout.js';

const { EJSON } = BSON;

// Read the numbers exactly as stored (Int32, Int64, Double stay distinct) so canonical Extended
// JSON writes them back with the same types.
const exactTypes = { promoteValues: false, promoteLongs: false, promoteBuffers: false, bsonRegExp: true } as const;

/**
 * Collections whose documents only mean something to a live process, never restored: `locks`,
 * and `message_index`, derived from the messages and read at a moment of its own (a backup could
 * pair it with messages changed after it was read), which the first start after a restore
 * rebuilds from the restored messages.
 */
const transientCollections = new Set(['locks', 'message_index', 'session_revocations']);

// Children before parents. Nothing is cut by time: every collection is read as it is when its turn
// comes, and what a document refers to was written before it and is read after it, so it is in the
// archive too (a message's room and sender, a membership's room and user, a file's owner). The
// messages come first, so everything stored before the backup started reading is in it; the
// writer stores messages in id order, so what it holds of them is always a prefix of their
// history. Files follow the messages: a file is deleted only after the messages carrying it, so one
// deleted meanwhile leaves a message that was itself being deleted, archived before its deletion
// without its file: the restore marks such messages deleted (deleteAttachmentsWithoutBytes). Collections other
// modules add come after the messages and before the rooms and users they probably refer to.
const dumpFirst = ['messages', 'calls', 'memberships', 'files', 'tokens', 'identities'];
const dumpLast = ['rooms', 'users', 'migrations'];

export interface IndexSpec extends Record<string, unknown> {
  key: Record<string, unknown>;
  name: string;
}

/** Whole-database access for backup and restore: the one place they meet the driver. */
export class CollectionsRepo {
  private detected: Promise<DatabaseEngine> | undefined;

  constructor(private readonly db: Db) {}

  get databaseName(): string {
    return this.db.databaseName;
  }

  /** Every collection of the database (no views, no system collections), in dump order. */
  async list(): Promise<string[]> {
    const infos = await this.db.listCollections({}, { nameOnly: false }).toArray();
    const names = infos.filter((info) => (info.type ?? 'collection') === 'collection' && !info.name.startsWith('system.')).map((info) => info.name);
    const rank = (name: string) => {
      const first = dumpFirst.indexOf(name);
      if (first >= 0) return first;
      const last = dumpLast.indexOf(name);
      return last >= 0 ? dumpFirst.length + 1 + last : dumpFirst.length;
    };
    return names.sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
  }

  /** Applied migration ids in the order they were applied. */
  async appliedMigrations(): Promise<string[]> {
    const records = await this.db.collection<{ _id: string; appliedAt: Date }>('migrations').find().sort({ appliedAt: 1, _id: 1 }).toArray();
    return records.map((record) => record._id);
  }

  async estimatedCount(name: string): Promise<number> {
    return this.db.collection(name).estimatedDocumentCount();
  }

  /** Index definitions to recreate the collection with (the implicit `_id_` left out). */
  async indexes(name: string): Promise<IndexSpec[]> {
    const indexes = await this.db.collection(name).listIndexes().toArray();
    return indexes
      .filter((index) => index.name !== '_id_')
      .map((index) => {
        const { v: _v, ns: _ns, background: _background, ...spec } = index as Document;
        return EJSON.serialize(spec, { relaxed: true }) as IndexSpec;
      });
  }

  /** The collection's documents as canonical Extended JSON lines, streamed in natural order. */
  async *documents(name: string): AsyncGenerator<string> {
    if (transientCollections.has(name)) return;
    const cursor = this.db.collection(name).find({}, { ...exactTypes, batchSize: 1000 });
    try {
      for await (const document of cursor) yield EJSON.stringify(document, { relaxed: false });
    } finally {
      await cursor.close();
    }
  }

  /** Collections holding documents other than migration records and locks: what a restore would overwrite. */
  async nonEmpty(): Promise<{ name: string; count: number }[]> {
    const found: { name: string; count: number }[] = [];
    for (const name of await this.list()) {
      if (name === 'migrations' || transientCollections.has(name)) continue;
      const count = await this.db.collection(name).countDocuments({}, { limit: 1 });
      if (count > 0) found.push({ name, count: await this.db.collection(name).estimatedDocumentCount() });
    }
    return found;
  }

  /** Drops every collection: the restore starts from nothing. */
  async dropAll(): Promise<void> {
    for (const name of await this.list()) await this.db.collection(name).drop();
  }

  /** Creates the collection with those of its indexes this engine keeps, before any document goes in. */
  async create(name: string, indexes: Record<string, unknown>[]): Promise<void> {
    await this.db.createCollection(name);
    const engine = await this.engine();
    const specs = indexes.map((index) => EJSON.deserialize(index, { relaxed: true }) as IndexDescription).filter((index) => belongsOn(engine, index));
    if (specs.length > 0) await this.db.collection(name).createIndexes(specs);
  }

  /** Gives the restored database the indexes its engine wants: a backup carries those of the engine it was taken on. */
  async fitIndexes(): Promise<void> {
    await fitIndexes(this.db, await this.engine());
  }

  private engine(): Promise<DatabaseEngine> {
    this.detected ??= detectEngine(this.db);
    return this.detected;
  }

  /**
   * After a restore: forgets file records whose bytes are not in the uploads and deletes (softly,
   * as a user's delete does) the messages carrying a file without a record. Both come from a
   * message deleted while its backup ran: read before its deletion, its file after.
   */
  async deleteAttachmentsWithoutBytes(storedNames: ReadonlySet<string>, at: Date): Promise<{ files: number; messages: number }> {
    const files = this.db.collection<{ _id: ObjectId; storedName: string }>('files');
    const kept = new Set<string>();
    const gone: ObjectId[] = [];
    for await (const file of files.find({}, { projection: { storedName: 1 } })) {
      if (storedNames.has(file.storedName)) kept.add(file._id.toHexString());
      else gone.push(file._id);
    }
    if (gone.length > 0) await files.deleteMany({ _id: { $in: gone } });
    const messages = this.db.collection<{ _id: ObjectId; fileAttachment?: { fileId?: ObjectId } | null }>('messages');
    const orphaned: ObjectId[] = [];
    for await (const message of messages.find({ isDeleted: false, 'fileAttachment.fileId': { $exists: true } }, { projection: { 'fileAttachment.fileId': 1 } })) {
      const fileId = message.fileAttachment?.fileId;
      if (fileId && !kept.has(fileId.toHexString())) orphaned.push(message._id);
    }
    if (orphaned.length > 0) await messages.updateMany({ _id: { $in: orphaned } }, { $set: { isDeleted: true, deletedAt: at, updatedAt: at } });
    return { files: gone.length, messages: orphaned.length };
  }

  /** Inserts documents given as canonical Extended JSON lines, types intact. */
  async insertLines(name: string, lines: string[]): Promise<void> {
    if (lines.length === 0) return;
    const documents = lines.map((line) => EJSON.parse(line, { relaxed: false }) as Document);
    await this.db.collection(name).insertMany(documents, { ordered: true });
  }
}
