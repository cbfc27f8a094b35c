import { ObjectId } from 'mongodb';
import { Conflict, Forbidden, Invalid, NotFound } from '../../errors.js';
import type { Logger } from '../../logger.js';
import { EncodedJson } from '../../realtime/codec.js';
import { roomTopic, type RealtimePublisher } from '../../realtime/publisher.js';
import type { FilesService } from '../files/service.js';
import type { RoomAccess } from '../rooms/access.js';
import type { RoomActivity } from '../rooms/activity.js';
import { MonotonicIds } from './ids.js';
import { messageJson, presentMessage, presentReactions } from './presenter.js';
import type { MessageChange, MessagesRepo } from './repo.js';
import type { HistoryInput, SendMessageInput } from './schemas.js';
import type { FileAttachment, MessageDocument, MessageType, Reaction } from './types.js';
import type { Timeline } from './timeline.js';
import { MessageWriter, type MessageWriterOptions, type WriteResult } from './writer.js';

export interface MessagesServiceDeps {
  repo: MessagesRepo;
  /** Answers history, resume, unread counts and file sharing (timeline.ts). */
  timeline: Timeline;
  /** Who may read and post where. */
  access: RoomAccess;
  /** Told of every stored message and read receipt, for room lists. */
  activity: RoomActivity;
  files: FilesService;
  realtime: RealtimePublisher;
  logger: Logger;
  batchMax: number;
  flushMs: number;
  queueMax: number;
  /** How long a send may wait for the database before it is answered UNAVAILABLE (ms). */
  writeDeadlineMs: number;
  /** Refuses sends at once while the disk is full. */
  storage?: MessageWriterOptions['storage'];
  /** Told how long each accepted send waited to be stored (metrics, when on). */
  onStoreLatency?: (seconds: number) => void;
}

/** What join_room and `GET /api/messages?after=` answer: what came after a message, and what changed up to it. */
/** A sent message: stored, or found stored under its clientMsgId (`created: false`), with its JSON for the acknowledgement. */
export interface SentMessage extends WriteResult {
  json: string;
}

export interface Changes {
  /** Messages after the cursor, oldest first. */
  messages: MessageDocument[];
  /** Messages up to the cursor that were read, reacted to, edited or deleted since it was sent. */
  updated: MessageDocument[];
  hasMore: boolean;
  /** More older messages changed than `updated` holds: reload the history instead. */
  updatesTruncated: boolean;
  /**
   * The cursor is no message of this room (a restore rolled history back past it, or retention
   * removed it): `messages` is the newest page instead, and the client reloads its timeline.
   */
  cursorUnknown?: boolean;
}

const MAX_DISTINCT_EMOJI = 20;
const MAX_UPDATES = 500;
const UNREAD_CAP = 1000;

function typeOfAttachment(mimeType: string): MessageType {
  if (mimeType.startsWith('image/')) return 'image';
  if (mimeType.startsWith('video/')) return 'video';
  if (mimeType.startsWith('audio/')) return 'voice';
  return 'file';
}

/** Messages: the one path both transports send through, history, receipts, reactions, edits and deletes. */
export class MessagesService {
  private readonly repo: MessagesRepo;
  private readonly timeline: Timeline;
  private readonly access: RoomAccess;
  private readonly activity: RoomActivity;
  private readonly files: FilesService;
  private readonly realtime: RealtimePublisher;
  private readonly log: Logger;
  private readonly writer: MessageWriter;
  private readonly onStoreLatency: ((seconds: number) => void) | undefined;
  private readonly ids = new MonotonicIds();
  private seeded: Promise<void> | undefined;
  private ready = false;

  constructor(deps: MessagesServiceDeps) {
    this.repo = deps.repo;
    this.timeline = deps.timeline;
    this.access = deps.access;
    this.activity = deps.activity;
    this.files = deps.files;
    this.realtime = deps.realtime;
    this.log = deps.logger.child({ component: 'messages' });
    this.onStoreLatency = deps.onStoreLatency;
    this.writer = new MessageWriter({
      repo: deps.repo,
      logger: deps.logger,
      batchMax: deps.batchMax,
      flushMs: deps.flushMs,
      queueMax: deps.queueMax,
      onStored: (doc) => this.stored(doc),
      deadlineMs: deps.writeDeadlineMs,
      findOriginals: (retries) => this.timeline.originalsOf(retries),
      storage: deps.storage,
    });
  }

  /** Whether history and sends are answered: the timeline is loaded and new ids sort after the stored ones. */
  get isReady(): boolean {
    return this.ready;
  }

  /** Loads the timeline and reads the newest stored id so that new ids sort after it; sends and reads wait for this once. */
  start(): Promise<void> {
    this.seeded ??= (async () => {
      await this.timeline.start();
      this.ids.seed(await this.timeline.newestId());
      this.ready = true;
    })().catch((error: unknown) => {
      this.seeded = undefined;
      throw error;
    });
    return this.seeded;
  }

  /**
   * Sends a message: members only, stored durably before this resolves. A retry with the same
   * clientMsgId resolves to the stored message (`created: false`) and stores nothing.
   */
  async send(userId: string, input: SendMessageInput): Promise<SentMessage> {
    const entry = await this.access.mayPost(input.roomId, userId);
    if (!this.ready) await this.start();
    let attachment: FileAttachment | undefined;
    let messageType: MessageType = input.messageType ?? 'text';
    if (input.fileAttachment) {
      attachment = await this.files.attachmentFor(input.fileAttachment.fileId, userId);
      messageType = input.messageType ?? typeOfAttachment(attachment.mimeType);
    } else if (messageType !== 'text') {
      throw new Invalid(`A ${messageType} message needs a fileAttachment`, [{ path: 'fileAttachment', message: 'required' }]);
    }
    const _id = this.ids.next();
    const now = new Date();
    const doc: MessageDocument = {
      _id,
      roomId: entry.id,
      senderId: new ObjectId(userId),
      content: input.content,
      messageType,
      encrypted: input.encrypted,
      readBy: [],
      reactions: [],
      editHistory: [],
      isDeleted: false,
      clientMsgId: input.clientMsgId ?? _id.toHexString(),
      createdAt: now,
      updatedAt: now,
    };
    if (attachment) doc.fileAttachment = attachment;
    await this.timeline.beforeWrite();
    const accepted = performance.now();
    const result = await this.writer.write(doc, userId);
    this.onStoreLatency?.((performance.now() - accepted) / 1000);
    if (!result.created && !result.doc.roomId.equals(entry.id)) throw new Conflict('This clientMsgId was already used for a message in another room');
    // A retry answered from the database has no broadcast JSON to reuse.
    return { ...result, json: result.json ?? messageJson(result.doc) };
  }

  /** Refuses new sends and stores (and acknowledges) every accepted one; gives up on a failing database after `timeoutMs`. */
  finishSends(timeoutMs: number): Promise<void> {
    return this.writer.drain(timeoutMs);
  }

  /** Messages accepted and not yet stored (the group-commit queue, with the batch being written). */
  get storeBacklog(): number {
    return this.writer.backlog;
  }

  /** Stores everything accepted, then saves what the timeline keeps in memory (at shutdown, after the transports and jobs stopped). */
  async drain(timeoutMs: number): Promise<void> {
    await this.finishSends(timeoutMs);
    // Not saving it costs the next start a rebuild, nothing else: the saved state still says so.
    await this.timeline.close().catch((error: unknown) => this.log.error({ err: error }, 'could not save the message index; the next start rebuilds it'));
  }

  /** A page of history, newest first (`page` or `before`), or what came after a message (`after`). */
  async history(userId: string, query: HistoryInput): Promise<{ messages: MessageDocument[]; page: number; hasMore: boolean; updated?: MessageDocument[]; updatesTruncated?: boolean; cursorUnknown?: boolean }> {
    const { entry } = await this.access.mayRead(query.roomId, userId);
    if (!this.ready) await this.start();
    const cursor = query.after ?? query.before;
    if (cursor && !(await this.isMessageOf(entry.id, new ObjectId(cursor)))) {
      const rows = await this.timeline.page(entry.id, { skip: 0, limit: query.limit + 1 });
      return { messages: rows.slice(0, query.limit), page: 1, hasMore: rows.length > query.limit, cursorUnknown: true };
    }
    if (query.after) {
      const changes = await this.changesSince(entry.id, new ObjectId(query.after), query.limit);
      return { ...changes, page: 1 };
    }
    const rows = await this.timeline.page(entry.id, {
      before: query.before ? new ObjectId(query.before) : undefined,
      skip: (query.page - 1) * query.limit,
      limit: query.limit + 1,
    });
    return { messages: rows.slice(0, query.limit), page: query.page, hasMore: rows.length > query.limit };
  }

  /** For join_room: the latest messages oldest first, or everything since a message the client has. */
  async replay(userId: string, roomId: string, since: string | undefined, limit: number): Promise<Changes> {
    const { entry } = await this.access.mayRead(roomId, userId);
    if (!this.ready) await this.start();
    const cursorUnknown = since !== undefined && !(await this.isMessageOf(entry.id, new ObjectId(since)));
    if (since && !cursorUnknown) return this.changesSince(entry.id, new ObjectId(since), limit);
    const rows = await this.timeline.page(entry.id, { skip: 0, limit: limit + 1 });
    return { messages: rows.slice(0, limit).reverse(), updated: [], hasMore: rows.length > limit, updatesTruncated: false, ...(cursorUnknown ? { cursorUnknown } : {}) };
  }

  /**
   * Whether a client's cursor is a position in this room's history: a stored message of the room
   * (one read by `_id`, the lookup every database answers from an index), or any id older than the
   * room itself, which no restore can have rolled back (`after=000…0` reads from the start).
   */
  private async isMessageOf(roomId: ObjectId, id: ObjectId): Promise<boolean> {
    if (id.getTimestamp().getTime() < roomId.getTimestamp().getTime()) return true;
    const message = await this.repo.findById(id);
    return message !== null && message.roomId.equals(roomId);
  }

  /** Marks a message read by the user: one receipt per user, and the user's read marker moves forward. */
  async markRead(userId: string, messageId: string) {
    const me = new ObjectId(userId);
    const readAt = new Date();
    const { doc: message, changed: added } = await this.modify(messageId, userId, (current) => {
      if (current.senderId.equals(me) || current.readBy.some((receipt) => receipt.userId.equals(me))) return null;
      return { kind: 'receipt', receipt: { userId: me, readAt } };
    });
    if (added) this.timeline.changed(message);
    await this.activity.readUpTo(message.roomId, me, message._id, readAt);
    const receipt = { messageId, roomId: message.roomId.toHexString(), userId, readAt };
    if (added) this.realtime.publish(roomTopic(receipt.roomId), 'message_read', receipt);
    return receipt;
  }

  /** Adds or removes the user's reaction: one per user and emoji, at most 20 different emoji per message. */
  async react(userId: string, messageId: string, emoji: string, add: boolean) {
    const me = new ObjectId(userId);
    const { doc, changed } = await this.modify(messageId, userId, (message) => {
      if (message.isDeleted) throw new NotFound('This message was deleted');
      const current = message.reactions;
      const mine = current.findIndex((r) => r.emoji === emoji && r.userId.equals(me));
      if ((mine >= 0) === add) return null;
      const now = new Date();
      let next: Reaction[];
      if (add) {
        const distinct = new Set(current.map((r) => r.emoji));
        if (!distinct.has(emoji) && distinct.size >= MAX_DISTINCT_EMOJI) throw new Conflict(`A message has at most ${MAX_DISTINCT_EMOJI} different reactions`);
        next = [...current, { emoji, userId: me, createdAt: now }];
      } else {
        next = current.filter((_, index) => index !== mine);
      }
      return { kind: 'reactions', reactions: next, at: now };
    });
    if (changed) this.timeline.changed(doc);
    return this.reactionEvent(doc, userId, emoji, changed, add ? 'reaction_added' : 'reaction_removed');
  }

  /** Edits a message: its author only; the previous content goes to editHistory. */
  async edit(userId: string, messageId: string, content: string): Promise<MessageDocument> {
    const { doc, changed } = await this.modify(messageId, userId, (message) => {
      if (message.senderId.toHexString() !== userId) throw new Forbidden('Only the author edits a message');
      if (message.isDeleted) throw new NotFound('This message was deleted');
      if (message.content === content) return null;
      return { kind: 'edit', content, at: new Date() };
    });
    if (changed) {
      this.timeline.changed(doc);
      this.realtime.publish(roomTopic(doc.roomId.toHexString()), 'message_edited', { message: presentMessage(doc) });
    }
    return doc;
  }

  /** Deletes a message (softly): its author, or an owner or admin of the room. A file it carried goes too unless shared elsewhere. */
  async delete(userId: string, messageId: string): Promise<MessageDocument> {
    const { doc: deleted, changed } = await this.modify(messageId, userId, async (message) => {
      if (message.senderId.toHexString() !== userId) {
        const role = await this.access.roleIn(message.roomId.toHexString(), userId);
        if (role !== 'owner' && role !== 'admin') throw new Forbidden('Only the author, the owner or an admin deletes a message');
      }
      if (message.isDeleted) return null;
      return { kind: 'delete', at: new Date() };
    });
    if (!changed) return deleted;
    this.timeline.changed(deleted);
    this.realtime.publish(roomTopic(deleted.roomId.toHexString()), 'message_deleted', { message: presentMessage(deleted) });
    if (deleted.fileAttachment) {
      await this.files.releaseIfUnshared(deleted.fileAttachment.fileId).catch((error: unknown) => this.log.error({ err: error, messageId }, 'could not release the file of a deleted message'));
    }
    return deleted;
  }

  /** Room list summaries: each room's last message and the user's unread count (up to 1000). */
  async summarize(userId: ObjectId, memberships: { roomId: ObjectId; lastReadMessageId: ObjectId | null }[]) {
    const summaries = new Map<string, { lastMessage: object | null; unreadCount: number }>();
    if (!this.ready) await this.start();
    await Promise.all(
      memberships.map(async ({ roomId, lastReadMessageId }) => {
        const [last, unreadCount] = await Promise.all([this.timeline.latestIn(roomId), this.timeline.countUnread(roomId, lastReadMessageId, userId, UNREAD_CAP)]);
        summaries.set(roomId.toHexString(), { lastMessage: last ? presentMessage(last) : null, unreadCount });
      }),
    );
    return summaries;
  }

  /**
   * Retention: deletes up to `batch` messages created before `cutoff` in one room (or, roomId null,
   * in every room but `except`), then the files only they carried. Every hard delete of messages
   * goes through here, so whatever this module keeps about a room's history is corrected in this
   * one place. `more` says a full batch went: call again.
   */
  async expire(roomId: ObjectId | null, cutoff: Date, batch: number, except: ObjectId[] = []): Promise<{ messages: number; files: number; more: boolean }> {
    if (!this.ready) await this.start();
    await this.timeline.beforeWrite();
    const expired = await this.repo.deleteOlderThan(roomId, cutoff, batch, except);
    this.timeline.removed(expired.map((message) => ({ id: message._id, roomId: message.roomId })));
    const fileIds = new Map<string, ObjectId>();
    for (const message of expired) if (message.fileId) fileIds.set(message.fileId.toHexString(), message.fileId);
    let files = 0;
    for (const fileId of fileIds.values()) {
      try {
        if (await this.files.releaseIfUnshared(fileId)) files += 1;
      } catch (error) {
        this.log.error({ err: error, fileId: fileId.toHexString() }, 'could not release the file of an expired message');
      }
    }
    return { messages: expired.length, files, more: expired.length === batch };
  }

  /** Broadcasts a freshly stored message once, serialised once; the JSON is reused for the sender's acknowledgement. */
  private stored(doc: MessageDocument): string {
    this.timeline.appended(doc);
    const json = messageJson(doc);
    const roomId = doc.roomId.toHexString();
    this.realtime.publish(roomTopic(roomId), 'new_message', new EncodedJson(`{"message":${json}}`));
    this.activity.messageStored(roomId);
    return json;
  }

  private async changesSince(roomId: ObjectId, since: ObjectId, limit: number): Promise<Changes> {
    const [after, changed] = await Promise.all([
      this.timeline.after(roomId, since, limit + 1),
      // Changes are stamped by this server's clock; the cursor's second is the conservative start.
      this.timeline.changedSince(roomId, since, since.getTimestamp(), MAX_UPDATES),
    ]);
    return {
      messages: after.slice(0, limit),
      updated: changed.messages,
      hasMore: after.length > limit,
      updatesTruncated: changed.truncated,
    };
  }

  /**
   * Changes a message the user can see, with no other change to it in between (see
   * MessagesRepo.modify). `decide` returns the update, or null when there is nothing to change.
   * A message that does not exist answers the same as one in a room the user is not in.
   */
  private async modify(messageId: string, userId: string, decide: (message: MessageDocument) => Promise<MessageChange | null> | MessageChange | null): Promise<{ doc: MessageDocument; changed: boolean }> {
    await this.timeline.beforeWrite();
    const result = await this.repo.modify(new ObjectId(messageId), async (message) => {
      if (!(await this.access.isMember(message.roomId.toHexString(), userId))) throw new Forbidden('No such message in your rooms');
      return decide(message);
    });
    if (!result) throw new Forbidden('No such message in your rooms');
    return result;
  }

  private reactionEvent(message: MessageDocument, userId: string, emoji: string, changed: boolean, event?: 'reaction_added' | 'reaction_removed') {
    const data = { messageId: message._id.toHexString(), roomId: message.roomId.toHexString(), userId, emoji, reactions: presentReactions(message.reactions), changed };
    if (changed && event) this.realtime.publish(roomTopic(data.roomId), event, data);
    return data;
  }
}
