import { ObjectId } from 'mongodb';
import { Forbidden } from '../../errors.js';
import type { Logger } from '../../logger.js';
import type { UsersRepo } from '../users/repo.js';
import { BatchLoader } from './batch-loader.js';
import type { MembershipCache, RoomEntry } from './membership-cache.js';
import type { MemberRole } from './types.js';

export interface RoomAccessDeps {
  cache: MembershipCache;
  users: UsersRepo;
  logger: Logger;
  /** How long a direct room's "neither blocked the other" answer is trusted, in ms (5 minutes unless set). */
  blockCheckTtlMs?: number;
}

/**
 * Who may do what in a room: read it, post in it, call someone in it. Every such question in
 * chatd is answered here, from memberships and block lists kept in memory (MembershipCache and
 * the block lists read at start-up), so the send path asks the database nothing once a room is
 * known.
 */
export class RoomAccess {
  private readonly cache: MembershipCache;
  private readonly users: UsersRepo;
  private readonly log: Logger;
  private readonly blockCheckTtlMs: number;
  /** Bumped by every block or unblock: a direct room checked under an older epoch checks again. */
  private blockEpoch = 1;
  /** Block lists asked for in the same event-loop turn share one query (the embedded database scans for each). */
  private readonly blockLists = new BatchLoader<readonly ObjectId[]>(
    async (ids) => {
      const lists = await this.users.blockListsOf(ids.map((id) => new ObjectId(id)));
      return new Map(ids.map((id) => [id, lists.get(id) ?? []]));
    },
    () => undefined,
  );
  /**
   * Every user's block list, once read at start-up (absent: blocks nobody), kept by
   * `blocksChanged`; until then, and if that read failed, block lists come from `blockLists`.
   */
  private knownBlockLists: Map<string, readonly ObjectId[]> | undefined;
  /** Block lists changed while the start-up read runs: newer than what it read. */
  private changedDuringPreload: Map<string, readonly ObjectId[]> | undefined;

  constructor(deps: RoomAccessDeps) {
    this.cache = deps.cache;
    this.users = deps.users;
    this.log = deps.logger.child({ component: 'room-access' });
    // Every block and unblock goes through this process and invalidates the answers at once
    // (blocksChanged); the expiry only bounds how long an edit made behind its back goes unseen.
    this.blockCheckTtlMs = deps.blockCheckTtlMs ?? 300_000;
  }

  /** The room with its members: synchronously when cached, so hot paths await nothing then. */
  room(roomId: string): RoomEntry | Promise<RoomEntry> {
    return this.cache.peek(roomId) ?? this.cache.load(roomId);
  }

  /** The user's role in the room, undefined when they are not in it (or it does not exist). */
  async roleIn(roomId: string, userId: string): Promise<MemberRole | undefined> {
    return (await this.room(roomId)).members.get(userId);
  }

  /** Whether the user is in the room. */
  async isMember(roomId: string, userId: string): Promise<boolean> {
    return (await this.room(roomId)).members.has(userId);
  }

  /** May read the room (history, replay, typing, leaving): members only; a missing room answers the same. */
  async mayRead(roomId: string, userId: string): Promise<{ entry: RoomEntry; role: MemberRole }> {
    const entry = await this.room(roomId);
    return { entry, role: this.memberRole(entry, userId) };
  }

  /** The same rule for a room already in hand, without waiting (typing relays): the user's role, or Forbidden. */
  memberRole(entry: RoomEntry, userId: string): MemberRole {
    const role = entry.members.get(userId);
    if (!role) throw new Forbidden('You are not a member of this room');
    return role;
  }

  /** May post in the room: a member, and in a direct room neither side has blocked the other. */
  async mayPost(roomId: string, userId: string): Promise<RoomEntry> {
    const entry = await this.room(roomId);
    this.memberRole(entry, userId);
    if (entry.pair && (await this.pairBlocked(entry))) throw new Forbidden('You cannot message this user');
    return entry;
  }

  /** May call the other user from this room: both are members, and neither has blocked the other. */
  async mayCall(roomId: string, callerId: string, calleeId: string): Promise<void> {
    const entry = await this.room(roomId);
    if (!entry.members.has(callerId) || !entry.members.has(calleeId)) throw new Forbidden('You can only call someone who is a member of this room with you');
    if (await this.eitherBlocked(callerId, calleeId)) throw new Forbidden('You cannot call this user');
  }

  /**
   * Whether either user has blocked the other, read from the database: opening a direct room and
   * calling are rare, so they see even a block written behind this process's back at once.
   */
  eitherBlocked(a: string, b: string): Promise<boolean> {
    return this.users.eitherBlocked(new ObjectId(a), new ObjectId(b));
  }

  /** The same answer for the send path, from the block lists kept in memory (or loaded in batches until they are). */
  private async eitherBlockedKnown(a: string, b: string): Promise<boolean> {
    const known = this.knownBlockLists;
    const [blockedByA, blockedByB] = known ? [known.get(a) ?? [], known.get(b) ?? []] : await Promise.all([this.blockLists.load(a), this.blockLists.load(b)]);
    return blockedByA.some((id) => id.equals(b)) || blockedByB.some((id) => id.equals(a));
  }

  /** The rooms a user is in (cached while they are online, for presence). */
  roomsOf(userId: string): Promise<ReadonlySet<string>> {
    return this.cache.roomsOf(userId);
  }

  /** Forgets a user's room list once they are offline. */
  forgetUser(userId: string): void {
    this.cache.forgetUser(userId);
  }

  /** A user blocked or unblocked someone (their list is now `blocked`): answers given before are asked again. */
  blocksChanged(userId: ObjectId, blocked: readonly ObjectId[]): void {
    const id = userId.toHexString();
    this.knownBlockLists?.set(id, blocked);
    this.changedDuringPreload?.set(id, blocked);
    this.blockLists.invalidate(id);
    this.blockEpoch += 1;
  }

  /** Reads every room, membership and block list into memory at start-up, when they fit (MembershipCache). */
  async preload(): Promise<void> {
    let started = Date.now();
    const loaded = await this.cache.preload();
    this.log.info({ loaded, ms: Date.now() - started }, loaded ? 'memberships cached' : 'too many memberships to cache at start-up; loading them on demand');
    // Direct rooms check both users' block lists before their first message; one read of every
    // list at start-up spares the embedded database a scan of the users per batch of checks.
    started = Date.now();
    const changed = (this.changedDuringPreload = new Map());
    try {
      const lists = new Map<string, readonly ObjectId[]>();
      for await (const user of this.users.allBlockLists()) if (user.blockedUsers?.length) lists.set(user._id.toHexString(), user.blockedUsers);
      for (const [id, list] of changed) lists.set(id, list);
      this.knownBlockLists = lists;
      this.log.info({ users: lists.size, ms: Date.now() - started }, 'block lists cached');
    } finally {
      this.changedDuringPreload = undefined;
    }
  }

  /** A direct room's block answer, kept on its entry until a block changes or it expires. */
  private async pairBlocked(entry: RoomEntry): Promise<boolean> {
    const now = Date.now();
    if (entry.blockEpoch !== this.blockEpoch || now - entry.blockCheckedAt > this.blockCheckTtlMs) {
      const epoch = this.blockEpoch;
      const [first, second] = entry.pair!;
      entry.blocked = await this.eitherBlockedKnown(first, second);
      entry.blockCheckedAt = now;
      entry.blockEpoch = epoch;
    }
    return entry.blocked;
  }
}
