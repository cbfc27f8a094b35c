import { MongoBulkWriteError, type Collection, type Db, type Filter, type ObjectId, type UpdateFilter } from 'mongodb';
import { KeyedLock } from '../../db/keyed-lock.js';
import type { MessageDocument, Reaction, ReadReceipt } from './types.js';

/** How an ordered batch insert ended: the first `stored` documents are in, then maybe one failed. */
export interface BatchInsertResult {
  stored: number;
  failed?: { index: number; duplicate: boolean; message: string };
}

/** A message retention removed: what is needed to release its file and correct what is known about its room. */
export interface ExpiredMessage {
  _id: ObjectId;
  roomId: ObjectId;
  fileId?: ObjectId;
}

/** A change to a stored message; each one moves `updatedAt` (join_room with `since` replays changes by it). */
export type MessageChange =
  | { kind: 'receipt'; receipt: ReadReceipt }
  | { kind: 'reactions'; reactions: Reaction[]; at: Date }
  | { kind: 'edit'; content: string; at: Date }
  | { kind: 'delete'; at: Date };

function updateFor(change: MessageChange, current: MessageDocument): UpdateFilter<MessageDocument> {
  switch (change.kind) {
    case 'receipt':
      return { $push: { readBy: change.receipt }, $set: { updatedAt: change.receipt.readAt } };
    case 'reactions':
      return { $set: { reactions: change.reactions, updatedAt: change.at } };
    case 'edit':
      return { $set: { content: change.content, editedAt: change.at, updatedAt: change.at }, $push: { editHistory: { content: current.content, editedAt: change.at } } };
    case 'delete':
      return { $set: { isDeleted: true, deletedAt: change.at, updatedAt: change.at } };
  }
}

/** The `messages` collection. */
export class MessagesRepo {
  private readonly messages: Collection<MessageDocument>;
  private readonly writes = new KeyedLock();

  constructor(private readonly db: Db) {
    this.messages = db.collection<MessageDocument>('messages');
  }

  /**
   * Inserts in order and stops at the first failing document, so what is stored is always a
   * prefix of the batch and ids become visible in order. Journaled: an acknowledged message
   * survives a crash of the database too. Errors other than a document's write error (the
   * connection dropped, the server went away) are thrown: whether the batch landed is unknown.
   */
  async insertOrdered(docs: MessageDocument[]): Promise<BatchInsertResult> {
    try {
      await this.messages.insertMany(docs, { ordered: true, writeConcern: { w: 'majority', j: true } });
      return { stored: docs.length };
    } catch (error) {
      const first = error instanceof MongoBulkWriteError ? [error.writeErrors].flat()[0] : undefined;
      if (!first) throw error;
      return { stored: first.index, failed: { index: first.index, duplicate: first.code === 11000, message: first.errmsg ?? 'write error' } };
    }
  }

  /** Messages by their sender's idempotency keys. */
  findByClientIds(keys: { senderId: ObjectId; clientMsgId: string }[]): Promise<MessageDocument[]> {
    if (keys.length === 0) return Promise.resolve([]);
    return this.messages.find({ $or: keys.map(({ senderId, clientMsgId }) => ({ senderId, clientMsgId })) }).toArray();
  }

  /** Which of these ids are stored, as hex. */
  async existingIds(ids: ObjectId[]): Promise<Set<string>> {
    const rows = await this.messages.find({ _id: { $in: ids } }, { projection: { _id: 1 } }).toArray();
    return new Set(rows.map((row) => row._id.toHexString()));
  }

  /** One message by id, or null. */
  findById(id: ObjectId): Promise<MessageDocument | null> {
    return this.messages.findOne({ _id: id });
  }

  /** A page of a room's history, newest first: before a message id, or by offset (index room_history). */
  page(roomId: ObjectId, options: { before?: ObjectId; skip: number; limit: number }): Promise<MessageDocument[]> {
    const filter: Filter<MessageDocument> = options.before ? { roomId, _id: { $lt: options.before } } : { roomId };
    return this.messages.find(filter).sort({ _id: -1 }).skip(options.skip).limit(options.limit).toArray();
  }

  /** Messages after an id, oldest first. */
  after(roomId: ObjectId, after: ObjectId, limit: number): Promise<MessageDocument[]> {
    return this.messages.find({ roomId, _id: { $gt: after } }).sort({ _id: 1 }).limit(limit).toArray();
  }

  /** Messages up to `upTo` that changed (read, reacted, edited, deleted) at or after `since`, oldest change first (index room_changes). */
  changedSince(roomId: ObjectId, upTo: ObjectId, since: Date, limit: number): Promise<MessageDocument[]> {
    return this.messages.find({ roomId, updatedAt: { $gte: since }, _id: { $lte: upTo } }).sort({ updatedAt: 1, _id: 1 }).limit(limit).toArray();
  }

  /** The newest message of a room, or null. */
  latestIn(roomId: ObjectId): Promise<MessageDocument | null> {
    return this.messages.findOne({ roomId }, { sort: { _id: -1 } });
  }

  /** The newest message id anywhere, or null. */
  async newestId(): Promise<ObjectId | null> {
    const newest = await this.messages.findOne({}, { sort: { _id: -1 }, projection: { _id: 1 } });
    return newest?._id ?? null;
  }

  /** Messages of others after the reader's marker that are not deleted, counted up to `cap`. */
  countUnread(roomId: ObjectId, after: ObjectId | null, readerId: ObjectId, cap: number): Promise<number> {
    const filter: Filter<MessageDocument> = { roomId, senderId: { $ne: readerId }, isDeleted: false };
    if (after) filter._id = { $gt: after };
    return this.messages.countDocuments(filter, { limit: cap });
  }

  /**
   * Reads a message and applies the update `decide` returns for it (null: nothing to change),
   * with no other change to the message in between: changes to one message are queued here
   * (KeyedLock; FerretDB would otherwise lose one of two concurrent updates or let two
   * conditional ones through) and address it by `_id` alone, the one filter FerretDB looks up
   * directly instead of scanning the collection. Null when there is no such message.
   */
  modify(id: ObjectId, decide: (doc: MessageDocument) => Promise<MessageChange | null> | MessageChange | null): Promise<{ doc: MessageDocument; changed: boolean } | null> {
    return this.writes.run(id.toHexString(), async () => {
      const doc = await this.messages.findOne({ _id: id });
      if (!doc) return null;
      const change = await decide(doc);
      if (!change) return { doc, changed: false };
      const after = await this.messages.findOneAndUpdate({ _id: id }, updateFor(change, doc), { returnDocument: 'after' });
      return after ? { doc: after, changed: true } : null;
    });
  }

  /** Every message's fields the message index keeps, in no particular order, streamed (a rebuild of the index). */
  async *indexFields(): AsyncGenerator<Pick<MessageDocument, '_id' | 'roomId' | 'senderId' | 'isDeleted' | 'createdAt' | 'updatedAt'> & { fileAttachment?: { fileId: ObjectId } }> {
    const cursor = this.messages.find({}, { projection: { _id: 1, roomId: 1, senderId: 1, isDeleted: 1, createdAt: 1, updatedAt: 1, 'fileAttachment.fileId': 1 }, batchSize: 5000 });
    try {
      for await (const message of cursor) yield message;
    } finally {
      await cursor.close();
    }
  }

  /**
   * How many messages are stored, from the database's statistics: on FerretDB a count reads every
   * document, its collStats counts SQLite's rows (exact, and a hundredth of the time).
   */
  async countStored(): Promise<number> {
    const stats = await this.db.command({ collStats: 'messages' });
    return Number(stats.count ?? 0);
  }

  /**
   * Deletes up to `batch` messages created before `cutoff`, of one room, or (roomId null) of every
   * room except `except`; returns those it deleted. For retention: the only hard delete of messages.
   */
  async deleteOlderThan(roomId: ObjectId | null, cutoff: Date, batch: number, except: ObjectId[] = []): Promise<ExpiredMessage[]> {
    const filter: Filter<MessageDocument> = roomId ? { roomId, createdAt: { $lt: cutoff } } : { roomId: { $nin: except }, createdAt: { $lt: cutoff } };
    const doomed = await this.messages.find(filter, { projection: { _id: 1, roomId: 1, 'fileAttachment.fileId': 1 }, limit: batch }).toArray();
    if (doomed.length === 0) return [];
    await this.messages.deleteMany({ _id: { $in: doomed.map((message) => message._id) } });
    return doomed.map((message) => ({ _id: message._id, roomId: message.roomId, fileId: message.fileAttachment?.fileId }));
  }

  /** Rooms where a message that is not deleted shares the file (index attachment). */
  async roomsSharing(fileId: ObjectId): Promise<ObjectId[]> {
    const rows = await this.messages.find({ 'fileAttachment.fileId': fileId, isDeleted: false }, { projection: { _id: 0, roomId: 1 } }).toArray();
    return rows.map((row) => row.roomId);
  }
}
