import { ObjectId, type Collection, type Db } from 'mongodb';
import type { PresenceStatus, UserDocument } from './types.js';

/** The `users` collection. */
export class UsersRepo {
  private readonly users: Collection<UserDocument>;

  constructor(db: Db) {
    this.users = db.collection<UserDocument>('users');
  }

  /** One user by id, or null. */
  findById(id: ObjectId): Promise<UserDocument | null> {
    return this.users.findOne({ _id: id });
  }

  /** Several users by id, in no particular order. */
  findByIds(ids: ObjectId[]): Promise<UserDocument[]> {
    return this.users.find({ _id: { $in: ids } }).toArray();
  }

  /** Whether either user has blocked the other. */
  async eitherBlocked(a: ObjectId, b: ObjectId): Promise<boolean> {
    const hit = await this.users.findOne(
      { $or: [{ _id: a, blockedUsers: b }, { _id: b, blockedUsers: a }] },
      { projection: { _id: 1 } },
    );
    return hit !== null;
  }

  /** Stores a presence change; `lastSeen` moves whenever the user goes offline. */
  async setPresence(id: ObjectId, status: PresenceStatus, customStatus?: string): Promise<UserDocument | null> {
    const now = new Date();
    const set: Partial<UserDocument> = { status, updatedAt: now };
    if (customStatus !== undefined) set.customStatus = customStatus;
    if (status === 'offline') set.lastSeen = now;
    return this.users.findOneAndUpdate({ _id: id }, { $set: set }, { returnDocument: 'after' });
  }

  /** Stores the same presence change for several users with one statement (connections coming and going in bulk). */
  async setPresenceOf(ids: ObjectId[], status: PresenceStatus, customStatus?: string): Promise<void> {
    if (ids.length === 0) return;
    const now = new Date();
    const set: Partial<UserDocument> = { status, updatedAt: now };
    if (customStatus !== undefined) set.customStatus = customStatus;
    if (status === 'offline') set.lastSeen = now;
    await this.users.updateMany({ _id: { $in: ids } }, { $set: set });
  }

  /** Marks everyone offline: at start-up no connection is open, whatever a crash left behind. */
  async resetPresence(): Promise<number> {
    const result = await this.users.updateMany({ status: { $ne: 'offline' } }, { $set: { status: 'offline', lastSeen: new Date() } });
    return result.modifiedCount;
  }
}

/** Parses a 24-hex id; undefined when it is not one (callers answer 400 or 404). */
export function parseObjectId(value: unknown): ObjectId | undefined {
  return typeof value === 'string' && /^[0-9a-f]{24}$/i.test(value) ? new ObjectId(value) : undefined;
}
