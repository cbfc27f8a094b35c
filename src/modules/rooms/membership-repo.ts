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

  constructor(db: Db) {
    this.memberships = db.collection<MembershipDocument>('memberships');
  }

  /** Adds the membership unless it exists; true when it was added. */
  async insertIfAbsent(roomId: ObjectId, userId: ObjectId, role: MemberRole, at = new Date()): Promise<boolean> {
    // A plain insert against the unique index rather than an upsert: FerretDB drops null fields
    // from $setOnInsert, and every membership must carry lastReadMessageId.
    try {
      await this.memberships.insertOne({ _id: new ObjectId(), roomId, userId, role, joinedAt: at, lastReadMessageId: null, lastReadAt: null });
      return true;
    } catch (error) {
      if (isDuplicateKey(error)) return false;
      throw error;
    }
  }

  /** One user's membership of a room, or null. */
  find(roomId: ObjectId, userId: ObjectId): Promise<MembershipDocument | null> {
    return this.memberships.findOne({ roomId, userId });
  }

  /** Every member of these rooms with their role, in one query (for the in-process membership cache). */
  rolesInRooms(roomIds: ObjectId[]): Promise<Pick<MembershipDocument, 'roomId' | 'userId' | 'role'>[]> {
    return this.memberships.find({ roomId: { $in: roomIds } }, { projection: { _id: 0, roomId: 1, userId: 1, role: 1 } }).toArray() as Promise<Pick<MembershipDocument, 'roomId' | 'userId' | 'role'>[]>;
  }

  /** Every membership, streamed (the membership cache's start-up read). */
  allRoles(): AsyncIterable<Pick<MembershipDocument, 'roomId' | 'userId' | 'role'>> {
    return this.memberships.find({}, { projection: { _id: 0, roomId: 1, userId: 1, role: 1 } }) as AsyncIterable<Pick<MembershipDocument, 'roomId' | 'userId' | 'role'>>;
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
    await this.writes.run(membershipKey(roomId, userId), () => this.memberships.updateOne({ roomId, userId }, { $set: { role } }));
  }

  /** Moves the read marker forward only: an older message never un-reads newer ones. */
  async advanceReadMarker(roomId: ObjectId, userId: ObjectId, messageId: ObjectId, at: Date): Promise<boolean> {
    const result = await this.writes.run(membershipKey(roomId, userId), () =>
      this.memberships.updateOne(
        { roomId, userId, $or: [{ lastReadMessageId: null }, { lastReadMessageId: { $lt: messageId } }] },
        { $set: { lastReadMessageId: messageId, lastReadAt: at } },
      ),
    );
    return result.modifiedCount === 1;
  }

  /** Removes a membership; true when there was one. */
  async remove(roomId: ObjectId, userId: ObjectId): Promise<boolean> {
    const result = await this.memberships.deleteOne({ roomId, userId });
    return result.deletedCount === 1;
  }
}

function membershipKey(roomId: ObjectId, userId: ObjectId): string {
  return `${roomId.toHexString()}:${userId.toHexString()}`;
}
