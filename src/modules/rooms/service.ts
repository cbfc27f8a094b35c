import { ObjectId } from 'mongodb';
import { Forbidden, Invalid, NotFound } from '../../errors.js';
import type { Logger } from '../../logger.js';
import { roomTopic, type RealtimePublisher } from '../../realtime/publisher.js';
import { presentPublicUser } from '../users/presenter.js';
import type { UsersRepo } from '../users/repo.js';
import type { UsersServiceDeps } from '../users/service.js';
import type { RoomAccess } from './access.js';
import type { RoomActivity } from './activity.js';
import type { MembershipCache } from './membership-cache.js';
import type { MembershipsRepo } from './membership-repo.js';
import { presentMemberRoom, presentRoom } from './presenter.js';
import type { RoomsRepo } from './repo.js';
import type { AddMemberInput, CreateRoomInput, PageInput, RoomRetentionInput } from './schemas.js';
import type { MemberRole, MembershipDocument, RoomDocument } from './types.js';

/** What the room list shows of each room's messages; the messages module answers it. */
export interface RoomSummaries {
  summarize(userId: ObjectId, memberships: Pick<MembershipDocument, 'roomId' | 'lastReadMessageId'>[]): Promise<Map<string, { lastMessage: object | null; unreadCount: number }>>;
}

export interface RoomsServiceDeps {
  rooms: RoomsRepo;
  memberships: MembershipsRepo;
  cache: MembershipCache;
  access: RoomAccess;
  activity: RoomActivity;
  summaries: RoomSummaries;
  users: UsersRepo;
  /** Live presence, for the status shown in member lists. */
  presence?: UsersServiceDeps['presence'];
  realtime: RealtimePublisher;
  logger: Logger;
}

const managers: ReadonlySet<MemberRole> = new Set(['owner', 'admin']);

/** Rooms, memberships and roles: creating rooms, joining, adding, leaving, listing and managing them. */
export class RoomsService {
  private readonly rooms: RoomsRepo;
  private readonly memberships: MembershipsRepo;
  private readonly cache: MembershipCache;
  private readonly access: RoomAccess;
  private readonly activity: RoomActivity;
  private readonly summaries: RoomSummaries;
  private readonly users: UsersRepo;
  private readonly presence: RoomsServiceDeps['presence'];
  private readonly realtime: RealtimePublisher;
  private readonly log: Logger;

  constructor(deps: RoomsServiceDeps) {
    this.rooms = deps.rooms;
    this.memberships = deps.memberships;
    this.cache = deps.cache;
    this.access = deps.access;
    this.activity = deps.activity;
    this.summaries = deps.summaries;
    this.users = deps.users;
    this.presence = deps.presence;
    this.realtime = deps.realtime;
    this.log = deps.logger.child({ component: 'rooms' });
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
    if (await this.access.eitherBlocked(userId, otherId)) throw new Forbidden('You cannot start a conversation with this user');
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
    const rooms = this.activity.byActivity(await this.rooms.findByIds(memberships.map((m) => m.roomId))).slice((page - 1) * limit, page * limit + 1);
    const hasMore = rooms.length > limit;
    const shown = rooms.slice(0, limit);
    const summaries = await this.summaries.summarize(me, shown.map((room) => byRoom.get(room._id.toHexString())!));
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
    const rooms = this.activity.byActivity(await this.rooms.findPublic()).slice((page - 1) * limit, page * limit + 1);
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

  /** Rooms whose own retentionDays overrides RETENTION_DAYS (0 keeps their messages forever). */
  async retentionOverrides(): Promise<{ roomId: ObjectId; retentionDays: number }[]> {
    return (await this.rooms.withOwnRetention()).map((room) => ({ roomId: room._id, retentionDays: room.retentionDays }));
  }

  /** The room if the user may see it, with their membership; NotFound otherwise. */
  private async visible(userId: string, roomId: string): Promise<{ room: RoomDocument; membership: MembershipDocument | null }> {
    const id = new ObjectId(roomId);
    const [room, membership] = await Promise.all([this.rooms.findById(id), this.memberships.find(id, new ObjectId(userId))]);
    if (!room || (room.type !== 'public' && !membership)) throw new NotFound('Room not found');
    return { room: this.activity.withActivity(room), membership };
  }
}
