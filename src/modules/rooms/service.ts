import { ObjectId } from 'mongodb';
import { Forbidden, Invalid, NotFound } from '../../errors.js';
import type { Logger } from '../../logger.js';
import { roomTopic, type RealtimePublisher } from '../../realtime/publisher.js';
import { presentPublicUser } from '../users/presenter.js';
import type { UsersRepo } from '../users/repo.js';
import type { UsersServiceDeps } from '../users/service.js';
import { BatchLoader } from './batch-loader.js';
import type { MembershipCache, RoomEntry } from './membership-cache.js';
import type { MembershipsRepo } from './membership-repo.js';
import { presentMemberRoom, presentRoom } from './presenter.js';
import type { RoomsRepo } from './repo.js';
import type { AddMemberInput, CreateRoomInput, PageInput, RoomRetentionInput } from './schemas.js';
import type { MemberRole, MembershipDocument, RoomDocument } from './types.js';

/** What the room list shows of each room's messages; the messages module answers it. */
export interface RoomActivity {
  summarize(userId: ObjectId, memberships: Pick<MembershipDocument, 'roomId' | 'lastReadMessageId'>[]): Promise<Map<string, { lastMessage: object | null; unreadCount: number }>>;
}

export interface RoomsServiceDeps {
  rooms: RoomsRepo;
  memberships: MembershipsRepo;
  cache: MembershipCache;
  users: UsersRepo;
  /** Live presence, for the status shown in member lists. */
  presence?: UsersServiceDeps['presence'];
  realtime: RealtimePublisher;
  logger: Logger;
  /** How long a direct room's "neither blocked the other" answer is trusted, in ms (5 minutes unless set). */
  blockCheckTtlMs?: number;
}

const managers: ReadonlySet<MemberRole> = new Set(['owner', 'admin']);
const ACTIVITY_INTERVAL_MS = 500;
const MAX_ACTIVITY_INTERVAL_MS = 10_000;
/** A room's stored lastMessageAt is rewritten at most this often; lists read the newer time from memory. */
const ACTIVITY_REWRITE_MS = 30_000;
/**
 * Rooms written per interval, one update command: on the embedded database each command holds
 * message inserts back while it runs: with a thousand busy rooms at 2 000–3 400 messages/s,
 * message_sent's p99 was about 200 ms with four commands per write and 47 ms with one.
 */
const ACTIVITY_ROOMS_PER_WRITE = 16;

/** Rooms, memberships and roles: who may see, join, post in and manage which room. */
export class RoomsService {
  private readonly rooms: RoomsRepo;
  private readonly memberships: MembershipsRepo;
  private readonly cache: MembershipCache;
  private readonly users: UsersRepo;
  private readonly presence: RoomsServiceDeps['presence'];
  private readonly realtime: RealtimePublisher;
  private readonly log: Logger;
  private readonly blockCheckTtlMs: number;
  private activity: RoomActivity | undefined;
  private blockEpoch = 1;
  /**
   * Block lists asked for in the same event-loop turn share one query: 5 000 direct rooms'
   * first messages (and their re-checks every `blockCheckTtlMs`) were 10 000 lookups at once,
   * and the embedded database answered none of those rooms' messages for minutes.
   */
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
  /** When each room that had a message since start-up had its last one (ms): newer than what is stored. */
  private readonly lastMessageAt = new Map<string, number>();
  /** When each room's lastMessageAt was last written (ms). */
  private readonly activityWrittenAt = new Map<string, number>();
  /** Rooms whose stored lastMessageAt is behind, written in the background in a few commands. */
  private activeRooms = new Set<string>();
  private activityWrite: Promise<void> | undefined;
  /** How long the last write of room activity took (ms). */
  private lastActivityWriteMs = 0;
  private draining = false;
  private wakeActivityWriter: (() => void) | undefined;

  constructor(deps: RoomsServiceDeps) {
    this.rooms = deps.rooms;
    this.memberships = deps.memberships;
    this.cache = deps.cache;
    this.users = deps.users;
    this.presence = deps.presence;
    this.realtime = deps.realtime;
    this.log = deps.logger.child({ component: 'rooms' });
    // Every block and unblock goes through this process and invalidates the answers at once
    // (blocksChanged); the expiry only bounds how long an edit made behind its back goes unseen.
    this.blockCheckTtlMs = deps.blockCheckTtlMs ?? 300_000;
  }

  /** The messages module summarises rooms for the room list; it is built after this service. */
  useActivity(activity: RoomActivity): void {
    this.activity = activity;
  }

  /** Creates a public or private room owned by its creator. */
  async create(userId: string, input: CreateRoomInput) {
    const now = new Date();
    const _id = new ObjectId();
    const owner = new ObjectId(userId);
    const room: RoomDocument = {
      _id, name: input.name, type: input.type, description: input.description, createdBy: owner,
      memberCount: 1, directKey: `room:${_id.toHexString()}`, lastMessageAt: now, createdAt: now, updatedAt: now,
    };
    await this.rooms.insert(room);
    this.cache.created(_id, room.type, room.directKey);
    try {
      await this.memberships.insertIfAbsent(_id, owner, 'owner', now);
    } catch (error) {
      // No transactions on FerretDB: undo the room rather than leave one without an owner.
      await this.rooms.deleteById(_id).catch((undo: unknown) => this.log.error({ err: undo, roomId: _id }, 'could not remove a half-created room'));
      throw error;
    }
    this.cache.set(_id.toHexString(), userId, 'owner');
    return { ...presentRoom(room), role: 'owner' as const };
  }

  /** The direct room of two users: the same room for the same pair every time, refused if either blocked the other. */
  async direct(userId: string, otherId: string): Promise<{ room: ReturnType<typeof presentRoom>; created: boolean }> {
    if (userId === otherId) throw new Invalid('A direct room needs another user');
    const me = new ObjectId(userId);
    const other = new ObjectId(otherId);
    if (!(await this.users.findById(other))) throw new NotFound('User not found');
    if (await this.users.eitherBlocked(me, other)) throw new Forbidden('You cannot start a conversation with this user');
    const now = new Date();
    const _id = new ObjectId();
    const [low, high] = userId < otherId ? [userId, otherId] : [otherId, userId];
    const { room, created } = await this.rooms.findOrCreateDirect({
      _id, name: '', type: 'direct', description: '', createdBy: me, memberCount: 2,
      directKey: `${low}:${high}`, lastMessageAt: now, createdAt: now, updatedAt: now,
    });
    if (created) this.cache.created(room._id, 'direct', room.directKey);
    // Both memberships are (re)made every time, so a member who left gets the conversation back.
    let added = 0;
    const joined: string[] = [];
    for (const [id, hex] of [[me, userId], [other, otherId]] as const) {
      if (await this.memberships.insertIfAbsent(room._id, id, 'member', now)) {
        added += 1;
        joined.push(hex);
        this.cache.set(room._id.toHexString(), hex, 'member');
      }
    }
    const current = !created && added > 0 ? ((await this.rooms.addToMemberCount(room._id, added)) ?? room) : room;
    const presented = presentRoom(current);
    for (const hex of joined) if (hex !== userId) this.realtime.sendToUser(hex, 'room_added', { room: presented });
    return { room: presented, created };
  }

  /** The caller's rooms, most recently active first, with their unread count and last message. */
  async listMine(userId: string, { page, limit }: PageInput) {
    const me = new ObjectId(userId);
    const memberships = await this.memberships.ofUser(me);
    const byRoom = new Map(memberships.map((m) => [m.roomId.toHexString(), m]));
    const rooms = this.byActivity(await this.rooms.findByIds(memberships.map((m) => m.roomId))).slice((page - 1) * limit, page * limit + 1);
    const hasMore = rooms.length > limit;
    const shown = rooms.slice(0, limit);
    const summaries = this.activity ? await this.activity.summarize(me, shown.map((room) => byRoom.get(room._id.toHexString())!)) : new Map();
    return {
      rooms: shown.map((room) => {
        const id = room._id.toHexString();
        const summary = summaries.get(id);
        return { ...presentMemberRoom(room, byRoom.get(id)!), unreadCount: summary?.unreadCount ?? 0, lastMessage: summary?.lastMessage ?? null };
      }),
      page,
      hasMore,
    };
  }

  /** Public rooms anyone may join, most recently active first, marked when the caller is in them. */
  async listPublic(userId: string, { page, limit }: PageInput) {
    const rooms = this.byActivity(await this.rooms.findPublic()).slice((page - 1) * limit, page * limit + 1);
    const shown = rooms.slice(0, limit);
    const joined = new Set((await this.memberships.ofUserIn(new ObjectId(userId), shown.map((r) => r._id))).map((m) => m.roomId.toHexString()));
    return {
      rooms: shown.map((room) => ({ ...presentRoom(room), joined: joined.has(room._id.toHexString()) })),
      page,
      hasMore: rooms.length > limit,
    };
  }

  /** One room: public rooms for anyone, the others for their members; otherwise NotFound, as if it did not exist. */
  async get(userId: string, roomId: string) {
    const { room, membership } = await this.visible(userId, roomId);
    return membership ? presentMemberRoom(room, membership) : presentRoom(room);
  }

  /** Joins a public room (idempotent); private and direct rooms are joined only by being added. */
  async join(userId: string, roomId: string) {
    const id = new ObjectId(roomId);
    const room = await this.rooms.findById(id);
    if (!room || room.type !== 'public') {
      // A private room answers like a missing one, so ids cannot be probed for existence.
      throw new NotFound('Room not found');
    }
    const added = await this.memberships.insertIfAbsent(id, new ObjectId(userId), 'member');
    if (!added) return { room: presentRoom(room), joined: false };
    this.cache.set(roomId, userId, 'member');
    const updated = (await this.rooms.addToMemberCount(id, 1)) ?? room;
    this.realtime.publish(roomTopic(roomId), 'member_joined', { roomId, userId, role: 'member' });
    return { room: presentRoom(updated), joined: true };
  }

  /** Adds a user to a room or changes their role: members of public rooms add members, owners and admins manage private ones, only owners make admins. */
  async addMember(actorId: string, roomId: string, input: AddMemberInput) {
    const id = new ObjectId(roomId);
    const { room, membership } = await this.visible(actorId, roomId);
    if (!membership) throw new Forbidden('Join the room before adding others');
    if (room.type === 'direct') throw new Forbidden('Direct rooms have exactly two members');
    const actorRole = membership.role;
    if (room.type === 'private' && !managers.has(actorRole)) throw new Forbidden('Only the owner and admins add members to a private room');
    const role: MemberRole = input.role ?? 'member';
    if (role === 'admin' && actorRole !== 'owner') throw new Forbidden('Only the owner makes admins');
    const target = new ObjectId(input.userId);
    if (!(await this.users.findById(target))) throw new NotFound('User not found');

    const existing = await this.memberships.find(id, target);
    if (existing) {
      if (input.role && existing.role !== 'owner' && existing.role !== role && actorRole === 'owner') {
        await this.memberships.setRole(id, target, role);
        this.cache.set(roomId, input.userId, role);
        this.realtime.publish(roomTopic(roomId), 'member_role_changed', { roomId, userId: input.userId, role });
      }
      return { room: presentRoom(room), added: false };
    }
    if (!(await this.memberships.insertIfAbsent(id, target, role))) return { room: presentRoom(room), added: false };
    this.cache.set(roomId, input.userId, role);
    const updated = (await this.rooms.addToMemberCount(id, 1)) ?? room;
    const presented = presentRoom(updated);
    this.realtime.publish(roomTopic(roomId), 'member_joined', { roomId, userId: input.userId, role, addedBy: actorId });
    // The new member's devices learn of the room without polling, and may join_room.
    this.realtime.sendToUser(input.userId, 'room_added', { room: presented });
    return { room: presented, added: true };
  }

  /** Leaves a room; an owner who leaves hands the room to the longest-standing admin, else member. */
  async leave(userId: string, roomId: string) {
    const id = new ObjectId(roomId);
    const me = new ObjectId(userId);
    const membership = await this.memberships.find(id, me);
    if (!membership) throw new NotFound('You are not a member of this room');
    if (membership.role === 'owner') {
      const heir = (await this.memberships.senior(id, ['admin'], me)) ?? (await this.memberships.senior(id, ['member'], me));
      if (heir) {
        await this.memberships.setRole(id, heir.userId, 'owner');
        this.cache.set(roomId, heir.userId.toHexString(), 'owner');
        this.realtime.publish(roomTopic(roomId), 'member_role_changed', { roomId, userId: heir.userId.toHexString(), role: 'owner' });
      }
    }
    if (!(await this.memberships.remove(id, me))) throw new NotFound('You are not a member of this room');
    this.cache.delete(roomId, userId);
    const room = await this.rooms.addToMemberCount(id, -1);
    const topic = roomTopic(roomId);
    this.realtime.unsubscribeUser(userId, topic);
    this.realtime.publish(topic, 'member_left', { roomId, userId });
    return { room: room ? presentRoom(room) : null };
  }

  /** Sets how long the room keeps its messages: owners and admins decide, either member of a direct room. */
  async setRetention(userId: string, roomId: string, { retentionDays }: RoomRetentionInput) {
    const { room, membership } = await this.visible(userId, roomId);
    if (!membership || (room.type !== 'direct' && !managers.has(membership.role))) {
      throw new Forbidden('Only the owner and admins change how long a room keeps its messages');
    }
    const updated = await this.rooms.setRetention(room._id, retentionDays);
    if (!updated) throw new NotFound('Room not found');
    // Broadcast without the caller's role: every member of the room receives it.
    this.realtime.publish(roomTopic(roomId), 'room_updated', { room: presentRoom(updated) });
    return presentMemberRoom(updated, membership);
  }

  /** A page of a room's members with their public profile and role. */
  async members(userId: string, roomId: string, { page, limit }: PageInput) {
    const { room } = await this.visible(userId, roomId);
    const rows = await this.memberships.page(room._id, (page - 1) * limit, limit + 1);
    const shown = rows.slice(0, limit);
    const users = new Map((await this.users.findByIds(shown.map((m) => m.userId))).map((u) => [u._id.toHexString(), u]));
    return {
      members: shown.map((m) => {
        const user = users.get(m.userId.toHexString());
        return { userId: m.userId.toHexString(), role: m.role, joinedAt: m.joinedAt, user: user ? presentPublicUser(this.presence?.apply(user) ?? user) : null };
      }),
      page,
      total: room.memberCount,
      hasMore: rows.length > limit,
    };
  }

  /** Reads every room and membership into the cache at start-up, when they fit (MembershipCache). */
  async preload(): Promise<void> {
    let started = Date.now();
    const loaded = await this.cache.preload();
    this.log.info({ loaded, ms: Date.now() - started }, loaded ? 'memberships cached' : 'too many memberships to cache at start-up; loading them on demand');
    // Direct rooms check both users' block lists before their first message: with thousands of
    // direct rooms, asking the embedded database for them was a read of every user per batch.
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

  /** The cached room if it is cached; hot paths check this before awaiting `load`. */
  peek(roomId: string): RoomEntry | undefined {
    return this.cache.peek(roomId);
  }

  /** The room with its members, from the cache or loaded into it. */
  load(roomId: string): Promise<RoomEntry> {
    return this.cache.load(roomId);
  }

  /** The rooms a user is in (cached while they are online, for presence). */
  roomsOf(userId: string): Promise<ReadonlySet<string>> {
    return this.cache.roomsOf(userId);
  }

  /** Forgets a user's room list once they are offline. */
  forgetUser(userId: string): void {
    this.cache.forgetUser(userId);
  }

  /** Whether every one of `userIds` is a member of the room (calls ask this before ringing). */
  async areMembers(roomId: ObjectId, userIds: ObjectId[]): Promise<boolean> {
    const entry = await this.load(roomId.toHexString());
    return userIds.every((id) => entry.members.has(id.toHexString()));
  }

  /** The caller's role, or Forbidden: rooms that do not exist answer the same as rooms one is not in. */
  async requireMember(roomId: string, userId: string): Promise<{ entry: RoomEntry; role: MemberRole }> {
    const entry = this.cache.peek(roomId) ?? (await this.cache.load(roomId));
    const role = entry.members.get(userId);
    if (!role) throw new Forbidden('You are not a member of this room');
    return { entry, role };
  }

  /** Whether a member may post now: in a direct room, neither side may have blocked the other. */
  async assertMayPost(entry: RoomEntry): Promise<void> {
    if (!entry.pair) return;
    const now = Date.now();
    if (entry.blockEpoch !== this.blockEpoch || now - entry.blockCheckedAt > this.blockCheckTtlMs) {
      const epoch = this.blockEpoch;
      const [first, second] = entry.pair;
      const known = this.knownBlockLists;
      const [blockedByFirst, blockedBySecond] = known
        ? [known.get(first) ?? [], known.get(second) ?? []]
        : await Promise.all([this.blockLists.load(first), this.blockLists.load(second)]);
      entry.blocked = blockedByFirst.some((id) => id.equals(second)) || blockedBySecond.some((id) => id.equals(first));
      entry.blockCheckedAt = now;
      entry.blockEpoch = epoch;
    }
    if (entry.blocked) throw new Forbidden('You cannot message this user');
  }

  /** Moves a member's read marker forward (never back). */
  advanceReadMarker(roomId: ObjectId, userId: ObjectId, messageId: ObjectId, at: Date): Promise<boolean> {
    return this.memberships.advanceReadMarker(roomId, userId, messageId, at);
  }

  /**
   * A message was stored in the room. lastMessageAt only orders room lists, so it is written off
   * the send path, coalesced: one update per interval however many messages and rooms, stamped
   * with the time of the write (precise to the interval).
   */
  noteActivity(roomId: string): void {
    this.lastMessageAt.set(roomId, Date.now());
    this.activeRooms.add(roomId);
    this.activityWrite ??= this.writeActivity();
  }

  /** Writes what `noteActivity` collected (at shutdown). */
  async drain(): Promise<void> {
    this.draining = true;
    this.wakeActivityWriter?.();
    await this.activityWrite;
  }

  /**
   * Stores room activity in the background. Each room is written at most every
   * ACTIVITY_REWRITE_MS, with the time of its latest message, at most ACTIVITY_ROOMS_PER_WRITE
   * rooms at a time, and writes wait three times as long as the last one took: with a thousand
   * busy rooms, rewriting every room's document each second took most of the embedded database's
   * time from the messages themselves, and writing a thousand at once held every message insert
   * back half a second. Room lists are sorted with the times kept in memory, so they do not lag.
   */
  private async writeActivity(): Promise<void> {
    try {
      while (this.activeRooms.size > 0) {
        const interval = Math.min(MAX_ACTIVITY_INTERVAL_MS, Math.max(ACTIVITY_INTERVAL_MS, 3 * this.lastActivityWriteMs));
        if (!this.draining) {
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, interval);
            this.wakeActivityWriter = () => {
              clearTimeout(timer);
              resolve();
            };
          });
          this.wakeActivityWriter = undefined;
        }
        const now = Date.now();
        const due: string[] = [];
        for (const id of this.activeRooms) {
          if (!this.draining && due.length >= ACTIVITY_ROOMS_PER_WRITE) break;
          if (this.draining || now - (this.activityWrittenAt.get(id) ?? 0) >= ACTIVITY_REWRITE_MS) due.push(id);
        }
        for (const id of due) {
          this.activeRooms.delete(id);
          this.activityWrittenAt.set(id, now);
        }
        if (due.length === 0) continue;
        const started = Date.now();
        await this.rooms
          .touchActivity(due.map((id) => new ObjectId(id)), (id) => new Date(this.lastMessageAt.get(id.toHexString()) ?? now))
          .catch((error: unknown) => this.log.warn({ err: error, rooms: due.length }, 'could not record room activity'));
        this.lastActivityWriteMs = Date.now() - started;
      }
    } finally {
      this.activityWrite = undefined;
    }
  }

  /** The room with its latest message time, which may be newer in memory than stored. */
  private withActivity(room: RoomDocument): RoomDocument {
    const latest = this.lastMessageAt.get(room._id.toHexString());
    return latest !== undefined && latest > room.lastMessageAt.getTime() ? { ...room, lastMessageAt: new Date(latest) } : room;
  }

  /** Rooms most recently active first (then newest first). */
  private byActivity(rooms: RoomDocument[]): RoomDocument[] {
    return rooms
      .map((room) => this.withActivity(room))
      .sort((a, b) => b.lastMessageAt.getTime() - a.lastMessageAt.getTime() || (a._id.toHexString() < b._id.toHexString() ? 1 : -1));
  }

  /** Rooms whose own retentionDays overrides RETENTION_DAYS (0 keeps their messages forever). */
  async retentionOverrides(): Promise<{ roomId: ObjectId; retentionDays: number }[]> {
    return (await this.rooms.withOwnRetention()).map((room) => ({ roomId: room._id, retentionDays: room.retentionDays }));
  }

  /** A user blocked or unblocked someone (their list is now `blocked`): direct rooms check again before their next message. */
  blocksChanged(userId: ObjectId, blocked: readonly ObjectId[]): void {
    const id = userId.toHexString();
    this.knownBlockLists?.set(id, blocked);
    this.changedDuringPreload?.set(id, blocked);
    this.blockEpoch += 1;
  }

  /** The room if the user may see it, with their membership; NotFound otherwise. */
  private async visible(userId: string, roomId: string): Promise<{ room: RoomDocument; membership: MembershipDocument | null }> {
    const id = new ObjectId(roomId);
    const [room, membership] = await Promise.all([this.rooms.findById(id), this.memberships.find(id, new ObjectId(userId))]);
    if (!room || (room.type !== 'public' && !membership)) throw new NotFound('Room not found');
    return { room: this.withActivity(room), membership };
  }
}
