import { ObjectId } from 'mongodb';
import { BatchLoader } from './batch-loader.js';
import type { MembershipsRepo } from './membership-repo.js';
import type { RoomsRepo } from './repo.js';
import type { MemberRole, RoomType } from './types.js';

/** What the cache knows of one room. */
export interface RoomEntry {
  readonly id: ObjectId;
  /** null when the room does not exist (cached too, so probes cost no query). */
  readonly type: RoomType | null;
  readonly members: Map<string, MemberRole>;
  /** For direct rooms, the two users; sends check that neither blocked the other. */
  readonly pair: readonly [string, string] | undefined;
  /** When the block check last ran (ms) and under which block epoch, and its answer. */
  blockCheckedAt: number;
  blockEpoch: number;
  blocked: boolean;
}

/**
 * Who is in which room, kept in process so that sending a message, typing or reacting asks no
 * database question once a room is loaded. Every membership write in chatd goes through
 * RoomsService, which updates this cache after the write succeeds; RoomAccess answers from it.
 * One `chatd serve` owns a database, so nothing else changes memberships behind its back.
 *
 * At start-up every room and membership is read once (`preload`) when they fit in half of
 * `maxEntries`: a server restarting with thousands of users then answers their reconnections
 * from memory, where loading on demand costs the embedded database a read of the whole
 * `memberships` collection per batch. Whatever is not cached — everything, when the preload did not
 * fit — is loaded whole the first time it is needed (rooms asked for together share one query)
 * and evicted in load order when the total number of cached memberships passes `maxEntries`.
 * The rooms of each user are kept too, for presence broadcasts; without a preload they are
 * dropped when the user goes offline.
 */
export class MembershipCache {
  private readonly rooms = new Map<string, RoomEntry>();
  private readonly userRooms = new Map<string, Set<string>>();
  private readonly roomLoader: BatchLoader<RoomEntry>;
  private readonly userLoader: BatchLoader<Set<string>>;
  private entries = 0;
  /** Whether every user's room list is kept (the preload fitted). */
  private keepUsers = false;
  /** Rooms and users written while the preload reads: its older view of them is not stored. */
  private touched: Set<string> | undefined;

  constructor(
    private readonly roomsRepo: RoomsRepo,
    private readonly repo: MembershipsRepo,
    private readonly maxEntries = 1_000_000,
  ) {
    this.roomLoader = new BatchLoader((ids) => this.fetchRooms(ids), (id, entry) => this.store(id, entry));
    this.userLoader = new BatchLoader((ids) => this.fetchUsers(ids), (id, rooms) => this.userRooms.set(id, rooms));
  }

  /** The room if it is cached; callers fall back to `load`. */
  peek(roomId: string): RoomEntry | undefined {
    return this.rooms.get(roomId);
  }

  /** The room and its members, from the cache or loaded into it. */
  load(roomId: string): Promise<RoomEntry> {
    const cached = this.rooms.get(roomId);
    return cached ? Promise.resolve(cached) : this.roomLoader.load(roomId);
  }

  /** The rooms of a user, kept until `forgetUser`. */
  roomsOf(userId: string): Promise<ReadonlySet<string>> {
    const cached = this.userRooms.get(userId);
    return cached ? Promise.resolve(cached) : this.userLoader.load(userId);
  }

  /** Drops a user's room list (they went offline), unless every user's list is kept. */
  forgetUser(userId: string): void {
    if (!this.keepUsers) this.userRooms.delete(userId);
  }

  /**
   * Reads every room and membership into the cache, unless there are more than half of
   * `maxEntries` memberships; true when they were all read. Loads and writes may run meanwhile.
   */
  async preload(): Promise<boolean> {
    this.touched = new Set();
    try {
      const limit = Math.floor(this.maxEntries / 2);
      const rooms = new Map<string, RoomEntry>();
      for await (const room of this.roomsRepo.allKinds()) {
        const id = room._id.toHexString();
        rooms.set(id, emptyEntry(room._id, room.type, pairOf(room.type, room.directKey)));
      }
      const users = new Map<string, Set<string>>();
      let count = 0;
      for await (const row of this.repo.allRoles()) {
        if (++count > limit) return false;
        const roomId = row.roomId.toHexString();
        const userId = row.userId.toHexString();
        rooms.get(roomId)?.members.set(userId, row.role);
        let mine = users.get(userId);
        if (!mine) users.set(userId, (mine = new Set()));
        mine.add(roomId);
      }
      const touched = this.touched;
      for (const [id, entry] of rooms) if (!touched.has(id) && !this.rooms.has(id)) this.store(id, entry);
      for (const [id, mine] of users) if (!touched.has(id) && !this.userRooms.has(id)) this.userRooms.set(id, mine);
      this.keepUsers = true;
      return true;
    } finally {
      this.touched = undefined;
    }
  }

  /** Records a membership that was just written (join, add, role change). */
  set(roomId: string, userId: string, role: MemberRole): void {
    const members = this.rooms.get(roomId)?.members;
    if (members) {
      if (!members.has(userId)) this.entries += 1;
      members.set(userId, role);
    }
    const mine = this.userRooms.get(userId);
    if (mine) mine.add(roomId);
    // Once every list is kept, a user missing from them had no room before this one.
    else if (this.keepUsers) this.userRooms.set(userId, new Set([roomId]));
    this.written(roomId, userId);
  }

  /** Records a membership that was just removed. */
  delete(roomId: string, userId: string): void {
    if (this.rooms.get(roomId)?.members.delete(userId)) this.entries -= 1;
    this.userRooms.get(userId)?.delete(roomId);
    this.written(roomId, userId);
  }

  /** Records a room that was just created (before its first membership), so it is known without a query. */
  created(roomId: ObjectId, type: RoomType, directKey: string): void {
    const id = roomId.toHexString();
    if (this.rooms.has(id)) return;
    this.roomLoader.invalidate(id);
    this.touched?.add(id);
    this.store(id, emptyEntry(roomId, type, pairOf(type, directKey)));
  }

  private written(roomId: string, userId: string): void {
    this.roomLoader.invalidate(roomId);
    this.userLoader.invalidate(userId);
    this.touched?.add(roomId).add(userId);
  }

  private async fetchRooms(roomIds: string[]): Promise<Map<string, RoomEntry>> {
    const ids = roomIds.map((id) => new ObjectId(id));
    const [rooms, rows] = await Promise.all([this.roomsRepo.kinds(ids), this.repo.rolesInRooms(ids)]);
    const entries = new Map<string, RoomEntry>();
    for (const [i, roomId] of roomIds.entries()) entries.set(roomId, emptyEntry(ids[i]!, null, undefined));
    for (const room of rooms) {
      const id = room._id.toHexString();
      entries.set(id, { ...entries.get(id)!, type: room.type, pair: pairOf(room.type, room.directKey) });
    }
    for (const row of rows) entries.get(row.roomId.toHexString())?.members.set(row.userId.toHexString(), row.role);
    return entries;
  }

  private async fetchUsers(userIds: string[]): Promise<Map<string, Set<string>>> {
    const rows = await this.repo.roomsOfUsers(userIds.map((id) => new ObjectId(id)));
    const rooms = new Map(userIds.map((id) => [id, new Set<string>()]));
    for (const row of rows) rooms.get(row.userId.toHexString())?.add(row.roomId.toHexString());
    return rooms;
  }

  private store(roomId: string, entry: RoomEntry): void {
    // Each room counts one entry beyond its members, so probing random room ids (empty rooms)
    // cannot grow the cache without bound either.
    const size = entry.members.size + 1;
    for (const [oldest, evicted] of this.rooms) {
      if (this.entries + size <= this.maxEntries) break;
      this.rooms.delete(oldest);
      this.entries -= evicted.members.size + 1;
    }
    this.rooms.set(roomId, entry);
    this.entries += size;
  }
}

function emptyEntry(id: ObjectId, type: RoomType | null, pair: readonly [string, string] | undefined): RoomEntry {
  return { id, type, members: new Map(), pair, blockCheckedAt: 0, blockEpoch: 0, blocked: false };
}

/** A direct room's two users, from its directKey (`<lowerId>:<higherId>`). */
function pairOf(type: RoomType, directKey: string): readonly [string, string] | undefined {
  return type === 'direct' ? (directKey.split(':') as [string, string]) : undefined;
}
