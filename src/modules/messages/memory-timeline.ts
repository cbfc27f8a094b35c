import { ObjectId } from 'mongodb';
import type { Logger } from '../../logger.js';
import type { MessagesRepo } from './repo.js';
import { RoomIndex, SnapshotBuilder, type RoomSnapshot } from './room-index.js';
import type { RemovedMessage, Timeline } from './timeline.js';
import { INDEX_FORMAT, type TimelineRepo } from './timeline-repo.js';
import type { MessageDocument } from './types.js';

/** Message documents kept in memory, most recently used first: a room's latest page is served without the database. */
const DEFAULT_CACHE_SIZE = 20_000;

/** An id as the index keeps it (lower-case hex), or undefined for a value that is not an ObjectId. */
function hexOf(value: unknown): string | undefined {
  if (value instanceof ObjectId) return value.toHexString();
  if (typeof value === 'string' && /^[0-9a-fA-F]{24}$/.test(value)) return value.toLowerCase();
  return undefined;
}

/** Reads every message's index fields into room snapshots; `unindexed` counts documents that are not messages chatd could have written. */
export async function snapshotsFromMessages(messages: MessagesRepo): Promise<{ snapshots: RoomSnapshot[]; unindexed: number }> {
  const builder = new SnapshotBuilder();
  let unindexed = 0;
  for await (const message of messages.indexFields()) {
    const id = hexOf(message._id);
    const roomId = hexOf(message.roomId);
    if (!id || !roomId || !(message.createdAt instanceof Date)) {
      unindexed += 1;
      continue;
    }
    builder.add({
      id,
      roomId,
      sender: hexOf(message.senderId) ?? '',
      deleted: message.isDeleted === true,
      fileId: hexOf(message.fileAttachment?.fileId),
      createdAt: message.createdAt.getTime(),
      updatedAt: message.updatedAt instanceof Date ? message.updatedAt.getTime() : message.createdAt.getTime(),
    });
  }
  return { snapshots: [...builder.snapshots()], unindexed };
}

export interface MemoryTimelineOptions {
  messages: MessagesRepo;
  saved: TimelineRepo;
  logger: Logger;
  cacheSize?: number;
  /**
   * The same collections without the request deadline, for the start-up load or rebuild: one
   * read of every message may take longer than any request may wait.
   */
  startup?: { messages: MessagesRepo; saved: TimelineRepo };
}

/**
 * FerretDB: which messages a read wants comes from the RoomIndex in memory, the messages
 * themselves are read by `_id` (the one lookup FerretDB does not answer by scanning), concurrently,
 * through a cache of recently used documents. Every write to messages goes through this process
 * (it owns the embedded database), which tells the index and the cache after each write.
 *
 * The index is saved when chatd stops and loaded at the next start if it is known complete (the
 * saved state says so and the number of messages matches); otherwise — a crash, data restored from
 * a backup taken while chatd ran, messages changed by another program — it is rebuilt from one
 * read of every message, once, at start.
 */
/** How many of a sender's newest messages in a room a retry is looked for among. */
const RETRY_WINDOW = 512;
/** Reads by `_id` a retry lookup makes at once. */
const RETRY_READS_AT_ONCE = 16;

export class MemoryTimeline implements Timeline {
  private readonly messages: MessagesRepo;
  private readonly saved: TimelineRepo;
  private readonly log: Logger;
  private readonly cacheSize: number;
  private readonly startup: { messages: MessagesRepo; saved: TimelineRepo };
  private readonly index = new RoomIndex();
  private loading: Promise<void> | undefined;
  private loaded = false;
  /** Built from the messages rather than loaded: whatever was saved is replaced at close. */
  private rebuilt = false;
  /** Stored documents the index leaves out (not messages chatd could have written): counted, so the saved total still matches. */
  private unindexed = 0;
  private savedChunks = new Map<string, number>();
  /** Marking the saved index as lagging, done before this process first writes to messages. */
  private opening: Promise<void> | undefined;
  /** Changes reported while the index was loading, applied once it is. */
  private deferred: (() => void)[] = [];
  private readonly cache = new Map<string, MessageDocument>();
  private readonly fetching = new Map<string, { promise: Promise<MessageDocument | null>; stale: boolean }>();

  constructor(options: MemoryTimelineOptions) {
    this.messages = options.messages;
    this.saved = options.saved;
    this.startup = options.startup ?? { messages: options.messages, saved: options.saved };
    this.log = options.logger.child({ component: 'message-index' });
    this.cacheSize = options.cacheSize ?? DEFAULT_CACHE_SIZE;
  }

  start(): Promise<void> {
    this.loading ??= this.load().then(
      () => {
        this.loaded = true;
        for (const apply of this.deferred) apply();
        this.deferred = [];
      },
      (error: unknown) => {
        this.loading = undefined;
        throw error;
      },
    );
    return this.loading;
  }

  async newestId(): Promise<ObjectId | null> {
    await this.ready();
    return this.index.newest ? new ObjectId(this.index.newest) : null;
  }

  /**
   * The saved index is marked as lagging before the first write to messages after it was loaded
   * or saved, not at start: a chatd that changes nothing leaves the database as it found it, and
   * one that crashes after a write leaves an index the next start will not trust.
   */
  beforeWrite(): Promise<void> {
    this.opening ??= this.saved.open().catch((error: unknown) => {
      this.opening = undefined;
      throw error;
    });
    return this.opening;
  }

  appended(doc: MessageDocument): void {
    this.whenLoaded(() => this.index.append(doc.roomId.toHexString(), doc._id.toHexString(), doc.senderId.toHexString(), doc.fileAttachment?.fileId.toHexString()));
    this.remember(doc);
  }

  changed(doc: MessageDocument): void {
    const id = doc._id.toHexString();
    this.whenLoaded(() => this.index.change(doc.roomId.toHexString(), id, doc.updatedAt.getTime(), doc.isDeleted));
    const pending = this.fetching.get(id);
    if (pending) pending.stale = true;
    this.remember(doc);
  }

  removed(messages: readonly RemovedMessage[]): void {
    const byRoom = new Map<string, string[]>();
    for (const message of messages) {
      const id = hexOf(message.id);
      const roomId = hexOf(message.roomId);
      if (!id || !roomId) continue;
      this.cache.delete(id);
      const pending = this.fetching.get(id);
      if (pending) pending.stale = true;
      const ids = byRoom.get(roomId);
      if (ids) ids.push(id);
      else byRoom.set(roomId, [id]);
    }
    this.whenLoaded(() => {
      for (const [roomId, ids] of byRoom) this.index.remove(roomId, ids);
    });
  }

  async page(roomId: ObjectId, options: { before?: ObjectId; skip: number; limit: number }): Promise<MessageDocument[]> {
    await this.ready();
    const room = roomId.toHexString();
    const first = this.index.pageIds(room, options.before?.toHexString(), options.skip, options.limit);
    return this.collect(room, first, options.limit, (last, count) => this.index.pageIds(room, last, 0, count));
  }

  async after(roomId: ObjectId, after: ObjectId, limit: number): Promise<MessageDocument[]> {
    await this.ready();
    const room = roomId.toHexString();
    return this.collect(room, this.index.afterIds(room, after.toHexString(), limit), limit, (last, count) => this.index.afterIds(room, last, count));
  }

  async changedSince(roomId: ObjectId, upTo: ObjectId, since: Date, limit: number): Promise<{ messages: MessageDocument[]; truncated: boolean }> {
    await this.ready();
    const room = roomId.toHexString();
    const { ids, truncated } = this.index.changedIds(room, upTo.toHexString(), since.getTime(), limit);
    const messages = await this.collect(room, ids, ids.length, () => []);
    messages.sort((a, b) => a.updatedAt.getTime() - b.updatedAt.getTime() || Buffer.compare(a._id.id, b._id.id));
    return { messages, truncated };
  }

  async latestIn(roomId: ObjectId): Promise<MessageDocument | null> {
    const [latest] = await this.page(roomId, { skip: 0, limit: 1 });
    return latest ?? null;
  }

  async countUnread(roomId: ObjectId, after: ObjectId | null, readerId: ObjectId, cap: number): Promise<number> {
    await this.ready();
    return this.index.unread(roomId.toHexString(), after?.toHexString() ?? null, readerId.toHexString(), cap);
  }

  /**
   * A retry is of a message its sender sent to that room a moment ago (the acknowledgement was
   * lost, the connection or the server went down): the sender's newest messages there, from the
   * index, are read by `_id` (FerretDB's one indexed lookup) until the clientMsgId matches. The
   * query by clientMsgId reads the whole collection (1 s at 21 k messages): it is made only for
   * an original the index does not know — a message whose batch timed out and landed after all
   * (then indexed here), or a clientMsgId reused in another room or long ago.
   */
  async originalsOf(retries: readonly Pick<MessageDocument, 'roomId' | 'senderId' | 'clientMsgId'>[]): Promise<(MessageDocument | null)[]> {
    await this.ready();
    const found = await Promise.all(
      retries.map(async ({ roomId, senderId, clientMsgId }) => {
        const candidates = this.index.idsBySender(roomId.toHexString(), senderId.toHexString(), RETRY_WINDOW);
        for (let start = 0; start < candidates.length; start += RETRY_READS_AT_ONCE) {
          const docs = await Promise.all(candidates.slice(start, start + RETRY_READS_AT_ONCE).map((id) => this.fetch(id)));
          const match = docs.find((doc) => doc?.clientMsgId === clientMsgId);
          if (match) return match;
        }
        return null;
      }),
    );
    const missing = retries.filter((_, i) => found[i] === null);
    if (missing.length === 0) return found;
    const stored = await this.messages.findByClientIds(missing.map(({ senderId, clientMsgId }) => ({ senderId, clientMsgId })));
    return retries.map((retry, i) => {
      if (found[i]) return found[i];
      const doc = stored.find((m) => m.senderId.equals(retry.senderId) && m.clientMsgId === retry.clientMsgId) ?? null;
      // Stored by a batch whose answer was lost: the index learns of it now.
      if (doc && doc.roomId.equals(retry.roomId)) this.appended(doc);
      return doc;
    });
  }

  async roomsSharing(fileId: ObjectId): Promise<ObjectId[]> {
    await this.ready();
    return this.index.roomsSharing(fileId.toHexString()).map((id) => new ObjectId(id));
  }

  async close(): Promise<void> {
    if (!this.loaded || (!this.rebuilt && this.index.dirty.size === 0 && !this.opening)) return;
    const started = Date.now();
    const rooms = this.rebuilt ? this.index.roomIds() : [...this.index.dirty];
    if (this.rebuilt) {
      await this.saved.clearRooms();
      this.savedChunks.clear();
    }
    for (const roomId of rooms) {
      const snapshot = this.index.snapshot(roomId);
      if (snapshot) this.savedChunks.set(roomId, await this.saved.saveRoom(snapshot, this.savedChunks.get(roomId) ?? 0));
    }
    this.index.dirty.clear();
    this.rebuilt = false;
    await this.saved.close(this.index.size + this.unindexed, this.index.newest);
    this.opening = undefined;
    this.log.info({ rooms: rooms.length, messages: this.index.size, ms: Date.now() - started }, 'saved the message index');
  }

  private async ready(): Promise<void> {
    if (!this.loaded) await this.start();
  }

  private whenLoaded(apply: () => void): void {
    if (this.loaded) apply();
    else this.deferred.push(apply);
  }

  private async load(): Promise<void> {
    const started = Date.now();
    const { messages, saved: savedIndex } = this.startup;
    const state = await savedIndex.state();
    let reason: string | undefined;
    if (!state) reason = 'no message index was saved';
    else if (state.format !== INDEX_FORMAT) reason = 'the saved message index has an older format';
    else if (!state.clean) reason = 'chatd did not stop cleanly last time, or the data was restored from a backup taken while it ran';
    else {
      const [saved, stored] = await Promise.all([savedIndex.load(), messages.countStored()]);
      const held = saved?.rooms.reduce((sum, room) => sum + room.ids.length, 0);
      if (!saved || held === undefined || state.messages !== stored || held > stored) {
        reason = 'the saved message index does not match the messages (another program changed them?)';
      } else {
        for (const room of saved.rooms) this.index.restore(room);
        this.savedChunks = saved.chunks;
        this.unindexed = stored - held;
        this.log.info({ messages: held, rooms: saved.rooms.length, ms: Date.now() - started }, 'loaded the message index');
      }
    }
    if (reason) {
      this.log.warn({ reason }, `${reason}: rebuilding the message index from every message (one read of the whole messages collection)`);
      const { snapshots, unindexed } = await snapshotsFromMessages(messages);
      for (const snapshot of snapshots) this.index.restore(snapshot);
      this.unindexed = unindexed;
      this.rebuilt = true;
      this.log.info({ messages: this.index.size, rooms: snapshots.length, ms: Date.now() - started }, 'rebuilt the message index');
    }
  }

  /**
   * The messages of `ids` that exist, in that order; ids whose message is gone (deleted by another
   * program) are forgotten and replaced by the next ones `more(lastId, missing)` gives.
   */
  private async collect(roomId: string, ids: string[], count: number, more: (last: string, count: number) => string[]): Promise<MessageDocument[]> {
    const found: MessageDocument[] = [];
    let batch = ids;
    while (batch.length > 0) {
      const docs = await Promise.all(batch.map((id) => this.fetch(id)));
      const missing: string[] = [];
      docs.forEach((doc, i) => (doc ? found.push(doc) : missing.push(batch[i]!)));
      if (missing.length === 0 || found.length >= count) break;
      this.index.remove(roomId, missing);
      batch = more(batch.at(-1)!, count - found.length);
    }
    return found;
  }

  private fetch(id: string): Promise<MessageDocument | null> {
    const cached = this.cache.get(id);
    if (cached) {
      this.cache.delete(id);
      this.cache.set(id, cached);
      return Promise.resolve(cached);
    }
    const pending = this.fetching.get(id);
    if (pending) return pending.promise;
    const entry = { stale: false, promise: Promise.resolve<MessageDocument | null>(null) };
    entry.promise = this.messages.findById(new ObjectId(id)).finally(() => {
      if (this.fetching.get(id) === entry) this.fetching.delete(id);
    });
    // Cached only if nothing changed the message while it was read.
    void entry.promise.then((doc) => {
      if (doc && !entry.stale) this.remember(doc);
    }, () => undefined);
    this.fetching.set(id, entry);
    return entry.promise;
  }

  private remember(doc: MessageDocument): void {
    const id = doc._id.toHexString();
    this.cache.delete(id);
    this.cache.set(id, doc);
    if (this.cache.size > this.cacheSize) this.cache.delete(this.cache.keys().next().value!);
  }
}
