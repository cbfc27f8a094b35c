import type { ObjectId } from 'mongodb';
import type { MessagesRepo } from './repo.js';
import type { TimelineRepo } from './timeline-repo.js';
import type { MessageDocument } from './types.js';

/** A message the retention sweep deleted from the database, as it was stored. */
export interface RemovedMessage {
  id: unknown;
  roomId: unknown;
}

/**
 * What history, resume (`since`), unread counts, room lists and file access read. Two ways to
 * answer, by database: MongoDB answers with its indexes (QueryTimeline); FerretDB, which scans the
 * whole collection for any query but `_id` equality, from an index chatd keeps in memory and
 * reads messages by `_id` (MemoryTimeline). The `messages` collection stays the source of truth:
 * both are told of every message stored, changed or removed, and the memory index is rebuilt
 * from the messages whenever it cannot be trusted.
 */
export interface Timeline {
  /** Loads what it needs; reads wait for it. */
  start(): Promise<void>;
  /** The newest message id stored (new ids must sort after it). */
  newestId(): Promise<ObjectId | null>;
  /** Resolves once it is safe to write to messages (the first time: the saved index is marked as lagging). */
  beforeWrite(): Promise<void>;
  /** A message was stored (in id order, before it is broadcast). */
  appended(doc: MessageDocument): void;
  /** A stored message changed: receipt, reaction, edit or delete (`doc` is the message after). */
  changed(doc: MessageDocument): void;
  /** Messages were deleted from the database (retention). */
  removed(messages: readonly RemovedMessage[]): void;
  /** A page of a room's history, newest first: before a message id, or by offset. */
  page(roomId: ObjectId, options: { before?: ObjectId; skip: number; limit: number }): Promise<MessageDocument[]>;
  /** Messages after an id, oldest first. */
  after(roomId: ObjectId, after: ObjectId, limit: number): Promise<MessageDocument[]>;
  /** Messages up to `upTo` changed at or after `since`, oldest change first; `truncated` when more than `limit` did (or changes that old are not known any more). */
  changedSince(roomId: ObjectId, upTo: ObjectId, since: Date, limit: number): Promise<{ messages: MessageDocument[]; truncated: boolean }>;
  /** The newest message of a room, or null. */
  latestIn(roomId: ObjectId): Promise<MessageDocument | null>;
  /** Messages of others after the reader's marker that are not deleted, counted up to `cap`. */
  countUnread(roomId: ObjectId, after: ObjectId | null, readerId: ObjectId, cap: number): Promise<number>;
  /** Rooms where a message that is not deleted carries the file. */
  roomsSharing(fileId: ObjectId): Promise<ObjectId[]>;
  /**
   * The stored messages retried sends stand for (same sender and clientMsgId, sent to that room),
   * in order; null where the original is not found there (another room, or long ago).
   */
  originalsOf(retries: readonly Pick<MessageDocument, 'roomId' | 'senderId' | 'clientMsgId'>[]): Promise<(MessageDocument | null)[]>;
  /** Saves what it keeps in memory (at shutdown, once nothing changes messages any more). */
  close(): Promise<void>;
}

/** MongoDB: every read is one indexed query (indexes room_history, room_changes, attachment). */
export class QueryTimeline implements Timeline {
  constructor(
    private readonly repo: MessagesRepo,
    private readonly saved: TimelineRepo,
  ) {}

  async start(): Promise<void> {
    // An index a FerretDB run saved (the data may have come from a backup of one) would miss what
    // this run stores: forget it, so that a FerretDB run later rebuilds it.
    await this.saved.forget();
  }

  newestId(): Promise<ObjectId | null> {
    return this.repo.newestId();
  }

  beforeWrite(): Promise<void> {
    return Promise.resolve();
  }

  appended(): void {}

  changed(): void {}

  removed(): void {}

  page(roomId: ObjectId, options: { before?: ObjectId; skip: number; limit: number }): Promise<MessageDocument[]> {
    return this.repo.page(roomId, options);
  }

  after(roomId: ObjectId, after: ObjectId, limit: number): Promise<MessageDocument[]> {
    return this.repo.after(roomId, after, limit);
  }

  async changedSince(roomId: ObjectId, upTo: ObjectId, since: Date, limit: number): Promise<{ messages: MessageDocument[]; truncated: boolean }> {
    const rows = await this.repo.changedSince(roomId, upTo, since, limit + 1);
    return { messages: rows.slice(0, limit), truncated: rows.length > limit };
  }

  latestIn(roomId: ObjectId): Promise<MessageDocument | null> {
    return this.repo.latestIn(roomId);
  }

  countUnread(roomId: ObjectId, after: ObjectId | null, readerId: ObjectId, cap: number): Promise<number> {
    return this.repo.countUnread(roomId, after, readerId, cap);
  }

  async originalsOf(retries: readonly Pick<MessageDocument, 'roomId' | 'senderId' | 'clientMsgId'>[]): Promise<(MessageDocument | null)[]> {
    // One query on the unique index sender_client_msg_unique.
    const found = await this.repo.findByClientIds(retries.map(({ senderId, clientMsgId }) => ({ senderId, clientMsgId })));
    return retries.map((retry) => found.find((m) => m.senderId.equals(retry.senderId) && m.clientMsgId === retry.clientMsgId) ?? null);
  }

  roomsSharing(fileId: ObjectId): Promise<ObjectId[]> {
    return this.repo.roomsSharing(fileId);
  }

  async close(): Promise<void> {}
}
