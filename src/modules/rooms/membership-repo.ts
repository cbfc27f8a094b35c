import { ObjectId, type Collection, type Db } from 'mongodb';
import { isDuplicateKey } from '../../db/errors.js';
import { KeyedLock } from '../../db/keyed-lock.js';
import type { MemberRole, MembershipDocument } from './types.js';

/** The `memberships` collection: one document per user and room. */
export class MembershipsRepo {
  private readonly memberships: Collection<MembershipDocument>;
  // Updates of one membership (role, read marker) are queued: FerretDB loses concurrent updates
  // of a document, and would let an older read marker overwrite a newer one (KeyedLock).
  private readonly writes = new KeyedLock();
  /**
   * Membership ids by room and user. The embedded database answers only an exact `_id` from an
   * index; `{roomId, userId}` reads every membership (a receipt, a role change or a REST look at a
   * room each cost a scan of the collection). An id never changes while its membership exists.
   */
  private readonly ids = new Map<string, ObjectId>();

  constructor(db: Db) {
    this.memberships = db.collection<MembershipDocument>('memberships');
  }

  /** Adds the membership unless it exists; true when it was added. */
  async insertIfAbsent(roomId: ObjectId, userId: ObjectId, role: MemberRole, at = new Date()): Promise<boolean> {
    // A plain insert against the unique index rather than an upsert: FerretDB drops null fields
    // from $setOnInsert, and every membership must carry lastReadMessageId.
    try {
      const _id = new ObjectId();
      await this.memberships.insertOne({ _id, roomId, userId, role, joinedAt: at, lastReadMessageId: null, lastReadAt: null });
      this.remember(roomId, userId, _id);
      return true;
    } catch (error) {
      if (isDuplicateKey(error)) return false;
      throw error;
    }
  }

  /** One user's membership of a room, or null. */
  async find(roomId: ObjectId, userId: ObjectId): Promise<MembershipDocument | null> {
    const key = membershipKey(roomId, userId);
    const known = this.ids.get(key);
    if (known) {
      const found = await this.memberships.findOne({ _id: known });
      if (found && found.roomId.equals(roomId) && found.userId.equals(userId)) return found;
      this.ids.delete(key);
    }
    const found = await this.memberships.findOne({ roomId, userId });
    if (found) this.remember(roomId, userId, found._id);
    return found;
  }

  /** Every member of these rooms with their role, in one query (for the in-process membership cache). */
  rolesInRooms(roomIds: ObjectId[]): Promise<Pick<MembershipDocument, 'roomId' | 'userId' | 'role'>[]> {
    return this.memberships.find({ roomId: { $in: roomIds } }, { projection: { _id: 0, roomId: 1, userId: 1, role: 1 } }).toArray() as Promise<Pick<MembershipDocument, 'roomId' | 'userId' | 'role'>[]>;
  }

  /** Every membership, streamed (the membership cache's start-up read); their ids are kept for `_id`-addressed reads and writes. */
  async *allRoles(): AsyncIterable<Pick<MembershipDocument, 'roomId' | 'userId' | 'role'>> {
    const rows = this.memberships.find({}, { projection: { _id: 1, roomId: 1, userId: 1, role: 1 } }) as AsyncIterable<Pick<MembershipDocument, '_id' | 'roomId' | 'userId' | 'role'>>;
    for await (const row of rows) {
      this.remember(row.roomId, row.userId, row._id);
      yield row;
    }
  }

  /** The rooms of these users, in one query. */
  roomsOfUsers(userIds: ObjectId[]): Promise<Pick<MembershipDocument, 'roomId' | 'userId'>[]> {
    return this.memberships.find({ userId: { $in: userIds } }, { projection: { _id: 0, roomId: 1, userId: 1 } }).toArray() as Promise<Pick<MembershipDocument, 'roomId' | 'userId'>[]>;
  }

  /** Every membership of a user. */
  ofUser(userId: ObjectId): Promise<MembershipDocument[]> {
    return this.memberships.find({ userId }).toArray();
  }

  /** The user's memberships among the given rooms. */
  ofUserIn(userId: ObjectId, roomIds: ObjectId[]): Promise<MembershipDocument[]> {
    return this.memberships.find({ userId, roomId: { $in: roomIds } }).toArray();
  }

  /** A page of a room's members in joining order (index room_joined). */
  page(roomId: ObjectId, skip: number, limit: number): Promise<MembershipDocument[]> {
    return this.memberships.find({ roomId }).sort({ joinedAt: 1, _id: 1 }).skip(skip).limit(limit).toArray();
  }

  /** The longest-standing member with one of `roles`, other than `exceptUserId`. */
  senior(roomId: ObjectId, roles: MemberRole[], exceptUserId: ObjectId): Promise<MembershipDocument | null> {
    return this.memberships.findOne({ roomId, role: { $in: roles }, userId: { $ne: exceptUserId } }, { sort: { joinedAt: 1, _id: 1 } });
  }

  /** Changes a member's role. */
  async setRole(roomId: ObjectId, userId: ObjectId, role: MemberRole): Promise<void> {
    await this.writes.run(membershipKey(roomId, userId), async () => {
      const membership = await this.find(roomId, userId);
      if (membership) await this.memberships.updateOne({ _id: membership._id }, { $set: { role } });
    });
  }

  /**
   * Moves the read marker forward only: an older message never un-reads newer ones. The marker is
   * read and compared here, under the membership's write queue, and written by `_id`.
   */
  async advanceReadMarker(roomId: ObjectId, userId: ObjectId, messageId: ObjectId, at: Date): Promise<boolean> {
    return this.writes.run(membershipKey(roomId, userId), async () => {
      const membership = await this.find(roomId, userId);
      if (!membership) return false;
      // Hex strings of ObjectIds order as their bytes do, which is how the database compares them.
      const last = membership.lastReadMessageId;
      if (last && last.toHexString() >= messageId.toHexString()) return false;
      const result = await this.memberships.updateOne({ _id: membership._id }, { $set: { lastReadMessageId: messageId, lastReadAt: at } });
      return result.modifiedCount === 1;
    });
  }

  /** Removes a membership; true when there was one. */
  async remove(roomId: ObjectId, userId: ObjectId): Promise<boolean> {
    const membership = await this.find(roomId, userId);
    this.ids.delete(membershipKey(roomId, userId));
    if (!membership) return false;
    // deleteOne's count says which of two simultaneous leaves removed it.
    const result = await this.memberships.deleteOne({ _id: membership._id });
    return result.deletedCount === 1;
  }

  private remember(roomId: ObjectId, userId: ObjectId, id: ObjectId): void {
    // A bound on memory for databases with millions of memberships; forgotten ids are looked up again.
    if (this.ids.size >= 2_000_000) this.ids.clear();
    this.ids.set(membershipKey(roomId, userId), id);
  }
}

function membershipKey(roomId: ObjectId, userId: ObjectId): string {
  return `${roomId.toHexString()}:${userId.toHexString()}`;
}
