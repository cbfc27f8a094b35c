import { BSON, ObjectId, type Db, type Document, type IndexDescription } from 'mongodb';

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
const transientCollections = new Set(['locks', 'message_index']);

// Parents before children: a document deleted while the backup runs is then missing together with
// (or before) what points at it, never the other way round. Collections other modules add later
// come after the parents they probably reference and before the busy message stream.
const dumpOrder = ['migrations', 'users', 'identities', 'tokens', 'rooms', 'memberships', 'files'];
const dumpLast = ['messages', 'calls'];

/** The instant a backup stands for: documents inserted later are left out. */
export interface Snapshot {
  /** Documents whose ObjectId was made at or after this time (ms, a whole second) are left out. */
  boundMs: number;
}

// An id more than this far ahead of the clock was not written after the snapshot: it comes from a
// clock that ran fast (or another machine's). Such documents are kept rather than silently lost.
const CLOCK_SLACK_MS = 60_000;
// Time for an insert whose id was made just before the snapshot to reach the database.
const IN_FLIGHT_MS = 250;

export interface IndexSpec extends Record<string, unknown> {
  key: Record<string, unknown>;
  name: string;
}

/** Whole-database access for backup and restore: the one place they meet the driver. */
export class CollectionsRepo {
  constructor(private readonly db: Db) {}

  get databaseName(): string {
    return this.db.databaseName;
  }

  /** Every collection of the database (no views, no system collections), in dump order. */
  async list(): Promise<string[]> {
    const infos = await this.db.listCollections({}, { nameOnly: false }).toArray();
    const names = infos.filter((info) => (info.type ?? 'collection') === 'collection' && !info.name.startsWith('system.')).map((info) => info.name);
    const rank = (name: string) => {
      const first = dumpOrder.indexOf(name);
      if (first >= 0) return first;
      const last = dumpLast.indexOf(name);
      return last >= 0 ? dumpOrder.length + 1 + last : dumpOrder.length;
    };
    return names.sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
  }

  /** Applied migration ids in the order they were applied. */
  async appliedMigrations(): Promise<string[]> {
    const records = await this.db.collection<{ _id: string; appliedAt: Date }>('migrations').find().sort({ appliedAt: 1, _id: 1 }).toArray();
    return records.map((record) => record._id);
  }

  /**
   * Fixes the instant the backup stands for: the next whole second. ObjectIds start with the second
   * they were made in, and chatd makes them just before inserting, so "id made before that second"
   * selects every insert up to one instant across all collections, and a message is never in the
   * backup without the room and the sender it was written for. Nothing is read until the instant
   * has passed (plus a moment for inserts already on their way), so nothing written before the
   * backup started is left out. (Reading the highest id instead would make FerretDB sort whole
   * collections in memory.)
   */
  async snapshot(): Promise<Snapshot> {
    const boundMs = Math.ceil(Date.now() / 1000) * 1000;
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, boundMs + IN_FLIGHT_MS - Date.now())));
    return { boundMs };
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

  /** The collection's documents within the snapshot as canonical Extended JSON lines, streamed in natural order. */
  async *documents(name: string, snapshot: Snapshot): AsyncGenerator<string> {
    if (transientCollections.has(name)) return;
    // Unfiltered: on FerretDB a filter on _id is evaluated document by document anyway, and
    // costs more there than the comparison here.
    const cursor = this.db.collection(name).find({}, { ...exactTypes, batchSize: 1000 });
    try {
      for await (const document of cursor) {
        const id: unknown = document._id;
        if (id instanceof ObjectId) {
          const made = id.getTimestamp().getTime();
          if (made >= snapshot.boundMs && made <= Date.now() + CLOCK_SLACK_MS) continue;
        }
        yield EJSON.stringify(document, { relaxed: false });
      }
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

  /** Creates the collection with its indexes, before any document goes in. */
  async create(name: string, indexes: Record<string, unknown>[]): Promise<void> {
    await this.db.createCollection(name);
    if (indexes.length > 0) {
      const specs = indexes.map((index) => EJSON.deserialize(index, { relaxed: true }) as IndexDescription);
      await this.db.collection(name).createIndexes(specs);
    }
  }

  /** Inserts documents given as canonical Extended JSON lines, types intact. */
  async insertLines(name: string, lines: string[]): Promise<void> {
    if (lines.length === 0) return;
    const documents = lines.map((line) => EJSON.parse(line, { relaxed: false }) as Document);
    await this.db.collection(name).insertMany(documents, { ordered: true });
  }
}
