import { ObjectId } from 'mongodb';
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

interface Pending<T> {
  promise: Promise<T>;
  /** A membership changed while the query ran: its answer may predate the change. */
  stale: boolean;
}

/**
 * Who is in which room, kept in process so that sending a message, typing or reacting asks no
 * database question once a room is loaded. Every membership write in chatd goes through
 * RoomsService, which updates this cache after the write succeeds; one `chatd serve` owns a
 * database, so nothing else changes memberships behind its back.
 *
 * Rooms are loaded whole (one indexed query) the first time they are needed and evicted in load
 * order when the total number of cached memberships passes `maxEntries`. The rooms of each online
 * user are kept too, for presence broadcasts; they are dropped when the user goes offline.
 */
export class MembershipCache {
  private readonly rooms = new Map<string, RoomEntry>();
  private readonly roomLoads = new Map<string, Pending<RoomEntry>>();
  private readonly userRooms = new Map<string, Set<string>>();
  private readonly userLoads = new Map<string, Pending<Set<string>>>();
  private entries = 0;

  constructor(
    private readonly roomsRepo: RoomsRepo,
    private readonly repo: MembershipsRepo,
    private readonly maxEntries = 1_000_000,
  ) {}

  /** The room if it is cached; callers fall back to `load`. */
  peek(roomId: string): RoomEntry | undefined {
    return this.rooms.get(roomId);
  }

  /** The room and its members, loading them once for concurrent callers. */
  load(roomId: string): Promise<RoomEntry> {
    const cached = this.rooms.get(roomId);
    if (cached) return Promise.resolve(cached);
    let pending = this.roomLoads.get(roomId);
    if (!pending) {
      const created: Pending<RoomEntry> = { stale: false, promise: undefined as never };
      created.promise = this.fetchRoom(roomId, created).finally(() => this.roomLoads.delete(roomId));
      this.roomLoads.set(roomId, created);
      pending = created;
    }
    return pending.promise;
  }

  /** The user's role in the room, or undefined for a non-member (or a room that does not exist). */
  async roleOf(roomId: string, userId: string): Promise<MemberRole | undefined> {
    return (this.rooms.get(roomId) ?? (await this.load(roomId))).members.get(userId);
  }

  /** The rooms of a user, kept until `forgetUser`. */
  roomsOf(userId: string): Promise<ReadonlySet<string>> {
    const cached = this.userRooms.get(userId);
    if (cached) return Promise.resolve(cached);
    let pending = this.userLoads.get(userId);
    if (!pending) {
      const created: Pending<Set<string>> = { stale: false, promise: undefined as never };
      created.promise = this.fetchUser(userId, created).finally(() => this.userLoads.delete(userId));
      this.userLoads.set(userId, created);
      pending = created;
    }
    return pending.promise;
  }

  /** Drops a user's room list (they went offline). */
  forgetUser(userId: string): void {
    this.userRooms.delete(userId);
  }

  /** Records a membership that was just written (join, add, role change). */
  set(roomId: string, userId: string, role: MemberRole): void {
    const members = this.rooms.get(roomId)?.members;
    if (members) {
      if (!members.has(userId)) this.entries += 1;
      members.set(userId, role);
    }
    this.userRooms.get(userId)?.add(roomId);
    this.markStale(roomId, userId);
  }

  /** Records a membership that was just removed. */
  delete(roomId: string, userId: string): void {
    if (this.rooms.get(roomId)?.members.delete(userId)) this.entries -= 1;
    this.userRooms.get(userId)?.delete(roomId);
    this.markStale(roomId, userId);
  }

  private markStale(roomId: string, userId: string): void {
    const roomLoad = this.roomLoads.get(roomId);
    if (roomLoad) roomLoad.stale = true;
    const userLoad = this.userLoads.get(userId);
    if (userLoad) userLoad.stale = true;
  }

  private async fetchRoom(roomId: string, pending: Pending<RoomEntry>): Promise<RoomEntry> {
    const id = new ObjectId(roomId);
    const room = await this.roomsRepo.findById(id);
    const pair = room?.type === 'direct' ? (room.directKey.split(':') as [string, string]) : undefined;
    for (;;) {
      pending.stale = false;
      const rows = room ? await this.repo.rolesInRoom(id) : [];
      if (pending.stale) continue;
      const members = new Map<string, MemberRole>();
      for (const row of rows) members.set(row.userId.toHexString(), row.role);
      const entry: RoomEntry = { id, type: room?.type ?? null, members, pair, blockCheckedAt: 0, blockEpoch: 0, blocked: false };
      this.store(roomId, entry);
      return entry;
    }
  }

  private async fetchUser(userId: string, pending: Pending<Set<string>>): Promise<Set<string>> {
    for (;;) {
      pending.stale = false;
      const rows = await this.repo.ofUser(new ObjectId(userId));
      if (pending.stale) continue;
      const rooms = new Set(rows.map((row) => row.roomId.toHexString()));
      this.userRooms.set(userId, rooms);
      return rooms;
    }
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
