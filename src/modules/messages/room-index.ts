/** A change to a message (receipt, reaction, edit, delete): its id (hex) and when, in ms. */
export interface ChangeEntry {
  id: string;
  at: number;
}

/** One room's messages as the index keeps them; ids are lower-case hex, which sorts like ObjectIds. */
export interface RoomSnapshot {
  roomId: string;
  /** Message ids, ascending. */
  ids: string[];
  /** The sender of each message, by position. */
  senders: string[];
  /** Messages deleted softly (they keep their place). */
  deleted: string[];
  /** Messages carrying a file: [message id, file id]. */
  files: [string, string][];
  /** The latest change of recently changed messages, oldest first. */
  changes: ChangeEntry[];
  /** Changes at or before this time (ms) were let go to bound memory; 0 when none were. */
  forgottenUpTo: number;
}

/** Distinct changed messages kept per room: resuming from further back answers `updatesTruncated`. */
export const CHANGES_KEPT = 2000;

/** The first position in ascending `ids` whose id is not below `id`. */
function lowerBound(ids: readonly string[], id: string): number {
  let lo = 0;
  let hi = ids.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (ids[mid]! < id) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The first position in ascending `ids` whose id is above `id`. */
function upperBound(ids: readonly string[], id: string): number {
  let lo = 0;
  let hi = ids.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (ids[mid]! <= id) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

class RoomLog {
  ids: string[] = [];
  senders: string[] = [];
  readonly deleted = new Set<string>();
  readonly files = new Map<string, string>();
  changes: ChangeEntry[] = [];
  forgottenUpTo = 0;

  insert(id: string, sender: string): boolean {
    const last = this.ids.at(-1);
    if (last === undefined || last < id) {
      this.ids.push(id);
      this.senders.push(sender);
      return true;
    }
    const at = lowerBound(this.ids, id);
    if (this.ids[at] === id) return false;
    this.ids.splice(at, 0, id);
    this.senders.splice(at, 0, sender);
    return true;
  }

  /** Records a change, keeping entries in time order (changes finish in about the order they were made). */
  noteChange(id: string, at: number): void {
    let i = this.changes.length;
    while (i > 0 && this.changes[i - 1]!.at > at) i -= 1;
    this.changes.splice(i, 0, { id, at });
    if (this.changes.length > 2 * CHANGES_KEPT) this.compactChanges();
  }

  /** Keeps the latest entry of each message, and only the CHANGES_KEPT most recently changed messages. */
  private compactChanges(): void {
    const seen = new Set<string>();
    const kept: ChangeEntry[] = [];
    for (let i = this.changes.length - 1; i >= 0; i -= 1) {
      const entry = this.changes[i]!;
      if (seen.has(entry.id)) continue;
      seen.add(entry.id);
      if (kept.length < CHANGES_KEPT) kept.push(entry);
      else this.forgottenUpTo = Math.max(this.forgottenUpTo, entry.at);
    }
    this.changes = kept.reverse();
  }
}

/**
 * Every room's message ids in order, with what history, resume, unread counts and file access
 * need to know about each message without reading it: sender, deleted or not, attached file, and
 * the recently changed ones. Kept in memory by the one process that owns the database: the
 * embedded FerretDB answers a query other than `_id` equality by reading the whole collection,
 * so chatd answers "which messages" from here and reads only those messages, by `_id`.
 * About 100 bytes per message.
 */
export class RoomIndex {
  private readonly rooms = new Map<string, RoomLog>();
  /** Rooms whose messages carry a file: file id → message id → room id. */
  private readonly fileShares = new Map<string, Map<string, string>>();
  /** One string per sender, however many messages point at it. */
  private readonly senderIds = new Map<string, string>();
  /** Rooms changed since the index was loaded or last saved. */
  readonly dirty = new Set<string>();
  private newestId: string | null = null;
  private entries = 0;

  /** Messages indexed, in all rooms. */
  get size(): number {
    return this.entries;
  }

  /** The highest message id indexed, or null. */
  get newest(): string | null {
    return this.newestId;
  }

  /** Adds a stored message; ids normally arrive in ascending order per room. */
  append(roomId: string, id: string, sender: string, fileId?: string): void {
    const room = this.room(roomId);
    if (!room.insert(id, this.intern(sender))) return;
    this.entries += 1;
    if (fileId) this.share(roomId, id, fileId, room);
    if (this.newestId === null || id > this.newestId) this.newestId = id;
    this.dirty.add(roomId);
  }

  /** Records a change to a message (at `at`, ms); a deleted message stays in its place, marked. */
  change(roomId: string, id: string, at: number, deleted: boolean): void {
    const room = this.rooms.get(roomId);
    if (!room) return;
    if (deleted) room.deleted.add(id);
    room.noteChange(id, at);
    this.dirty.add(roomId);
  }

  /** Forgets messages that were removed from the database (retention). */
  remove(roomId: string, ids: readonly string[]): void {
    const room = this.rooms.get(roomId);
    if (!room || ids.length === 0) return;
    const gone = new Set(ids);
    const keep: number[] = [];
    for (let i = 0; i < room.ids.length; i += 1) if (!gone.has(room.ids[i]!)) keep.push(i);
    if (keep.length === room.ids.length) return;
    this.entries -= room.ids.length - keep.length;
    room.ids = keep.map((i) => room.ids[i]!);
    room.senders = keep.map((i) => room.senders[i]!);
    for (const id of gone) {
      room.deleted.delete(id);
      const fileId = room.files.get(id);
      if (fileId !== undefined) {
        room.files.delete(id);
        const shares = this.fileShares.get(fileId);
        shares?.delete(id);
        if (shares?.size === 0) this.fileShares.delete(fileId);
      }
    }
    room.changes = room.changes.filter((entry) => !gone.has(entry.id));
    this.dirty.add(roomId);
  }

  /** Up to `count` ids, newest first: before `before` (or from the newest), after skipping `skip`. */
  pageIds(roomId: string, before: string | undefined, skip: number, count: number): string[] {
    const ids = this.rooms.get(roomId)?.ids;
    if (!ids) return [];
    const end = (before === undefined ? ids.length : lowerBound(ids, before)) - skip;
    return end <= 0 ? [] : ids.slice(Math.max(0, end - count), end).reverse();
  }

  /** The ids of the newest `count` messages `sender` sent to the room, newest first. */
  idsBySender(roomId: string, sender: string, count: number): string[] {
    const room = this.rooms.get(roomId);
    if (!room) return [];
    const ids: string[] = [];
    for (let i = room.ids.length - 1; i >= 0 && ids.length < count; i -= 1) if (room.senders[i] === sender) ids.push(room.ids[i]!);
    return ids;
  }

  /** Up to `count` ids after `after`, oldest first. */
  afterIds(roomId: string, after: string, count: number): string[] {
    const ids = this.rooms.get(roomId)?.ids;
    if (!ids) return [];
    const start = upperBound(ids, after);
    return ids.slice(start, start + count);
  }

  /**
   * Messages up to `upTo` changed at or after `since` (ms), the most recently changed first, at
   * most `limit`; `truncated` when there are more, or when changes that old were let go.
   */
  changedIds(roomId: string, upTo: string, since: number, limit: number): { ids: string[]; truncated: boolean } {
    const room = this.rooms.get(roomId);
    if (!room) return { ids: [], truncated: false };
    const seen = new Set<string>();
    const ids: string[] = [];
    for (let i = room.changes.length - 1; i >= 0; i -= 1) {
      const entry = room.changes[i]!;
      if (entry.at < since) break;
      if (entry.id > upTo || seen.has(entry.id)) continue;
      seen.add(entry.id);
      if (ids.length === limit) return { ids, truncated: true };
      ids.push(entry.id);
    }
    return { ids, truncated: since <= room.forgottenUpTo };
  }

  /** Messages of others after `afterId` (all when null) that are not deleted, counted up to `cap`. */
  unread(roomId: string, afterId: string | null, readerId: string, cap: number): number {
    const room = this.rooms.get(roomId);
    if (!room) return 0;
    let count = 0;
    for (let i = room.ids.length - 1; i >= 0 && count < cap; i -= 1) {
      const id = room.ids[i]!;
      if (afterId !== null && id <= afterId) break;
      if (room.senders[i] !== readerId && !room.deleted.has(id)) count += 1;
    }
    return count;
  }

  /** Rooms where a message that is not deleted carries the file. */
  roomsSharing(fileId: string): string[] {
    const shares = this.fileShares.get(fileId);
    if (!shares) return [];
    const rooms = new Set<string>();
    for (const [messageId, roomId] of shares) if (!this.rooms.get(roomId)?.deleted.has(messageId)) rooms.add(roomId);
    return [...rooms];
  }

  /** One room as a snapshot (for saving). */
  snapshot(roomId: string): RoomSnapshot | undefined {
    const room = this.rooms.get(roomId);
    if (!room) return undefined;
    return {
      roomId,
      ids: room.ids.slice(),
      senders: room.senders.slice(),
      deleted: [...room.deleted],
      files: [...room.files],
      changes: room.changes.slice(),
      forgottenUpTo: room.forgottenUpTo,
    };
  }

  /** Every room id. */
  roomIds(): string[] {
    return [...this.rooms.keys()];
  }

  /** Adds a room from a snapshot (loading a saved index or one built from the messages); ids must be ascending. */
  restore(snapshot: RoomSnapshot): void {
    const room = this.room(snapshot.roomId);
    room.ids = snapshot.ids;
    room.senders = snapshot.senders.map((sender) => this.intern(sender));
    for (const id of snapshot.deleted) room.deleted.add(id);
    for (const [messageId, fileId] of snapshot.files) this.share(snapshot.roomId, messageId, fileId, room);
    room.changes = [...snapshot.changes].sort((a, b) => a.at - b.at);
    room.forgottenUpTo = snapshot.forgottenUpTo;
    this.entries += room.ids.length;
    const last = room.ids.at(-1);
    if (last !== undefined && (this.newestId === null || last > this.newestId)) this.newestId = last;
  }

  private room(roomId: string): RoomLog {
    let room = this.rooms.get(roomId);
    if (!room) this.rooms.set(roomId, (room = new RoomLog()));
    return room;
  }

  private share(roomId: string, messageId: string, fileId: string, room: RoomLog): void {
    room.files.set(messageId, fileId);
    let shares = this.fileShares.get(fileId);
    if (!shares) this.fileShares.set(fileId, (shares = new Map()));
    shares.set(messageId, roomId);
  }

  private intern(sender: string): string {
    const known = this.senderIds.get(sender);
    if (known !== undefined) return known;
    this.senderIds.set(sender, sender);
    return sender;
  }
}

/**
 * Builds room snapshots from every message's index fields, read in any order (a rebuild).
 * Changes are known from `updatedAt` (a message never changed has `updatedAt` equal to
 * `createdAt`); the latest CHANGES_KEPT per room are kept.
 */
export class SnapshotBuilder {
  private readonly rooms = new Map<string, { entries: [string, string][]; deleted: string[]; files: [string, string][]; changes: ChangeEntry[] }>();

  add(message: { id: string; roomId: string; sender: string; deleted: boolean; fileId?: string; createdAt: number; updatedAt: number }): void {
    let room = this.rooms.get(message.roomId);
    if (!room) this.rooms.set(message.roomId, (room = { entries: [], deleted: [], files: [], changes: [] }));
    room.entries.push([message.id, message.sender]);
    if (message.deleted) room.deleted.push(message.id);
    if (message.fileId) room.files.push([message.id, message.fileId]);
    if (message.updatedAt !== message.createdAt) room.changes.push({ id: message.id, at: message.updatedAt });
  }

  *snapshots(): Generator<RoomSnapshot> {
    for (const [roomId, room] of this.rooms) {
      room.entries.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
      room.changes.sort((a, b) => a.at - b.at);
      const dropped = room.changes.length - CHANGES_KEPT;
      yield {
        roomId,
        ids: room.entries.map((entry) => entry[0]),
        senders: room.entries.map((entry) => entry[1]),
        deleted: room.deleted,
        files: room.files,
        changes: dropped > 0 ? room.changes.slice(dropped) : room.changes,
        forgottenUpTo: dropped > 0 ? room.changes[dropped - 1]!.at : 0,
      };
    }
  }
}
