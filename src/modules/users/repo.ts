import { MongoServerError, ObjectId, type Collection, type Db, type Filter } from 'mongodb';
import { KeyedLock } from '../../db/keyed-lock.js';
import { escapeRegex } from '../../db/regex.js';
import { updateEachById } from '../../db/update-each.js';
import { Conflict } from '../../errors.js';
import type { PresenceStatus, UserDocument, UserRole } from './types.js';

/** What token checks need of a user: a small projection, cached by the authenticator. */
export type SessionState = Pick<UserDocument, '_id' | 'role' | 'disabled' | 'sessionsValidAfter'>;

export interface UserPage {
  users: UserDocument[];
  hasMore: boolean;
}

export interface UserQuery {
  /** Case-insensitive prefix of the username (or of the e-mail when `matchEmail`). */
  prefix?: string;
  matchEmail?: boolean;
  includeDisabled?: boolean;
  skip: number;
  limit: number;
}

/**
 * One change of a user's standing (sessions revoked, disabled, enabled, role), for other
 * processes' hubs and token checks (`session_revocations`).
 */
interface RevocationEntry {
  _id: ObjectId;
  userId: ObjectId;
  at: Date;
}

const sessionFields = { role: 1, disabled: 1, sessionsValidAfter: 1 } as const;

/** The `users` collection, and the log of session revocations beside it. */
export class UsersRepo {
  private readonly users: Collection<UserDocument>;
  private readonly revocations: Collection<RevocationEntry>;
  // Writes to one user document are queued: see KeyedLock for why (FerretDB loses concurrent updates).
  private readonly writes = new KeyedLock();

  constructor(db: Db) {
    this.users = db.collection<UserDocument>('users');
    this.revocations = db.collection<RevocationEntry>('session_revocations');
  }

  /** Inserts a new user; a taken username or e-mail becomes CONFLICT naming the field. */
  async insert(user: UserDocument): Promise<void> {
    try {
      await this.users.insertOne(user);
    } catch (error) {
      if (error instanceof MongoServerError && error.code === 11000) {
        // FerretDB's duplicate-key error does not name the index, so ask which value is taken.
        const field = (await this.users.findOne({ email: user.email }, { projection: { _id: 1 } })) ? 'email' : 'username';
        throw takenConflict(field);
      }
      throw error;
    }
  }

  /** One user by id, or null. */
  findById(id: ObjectId): Promise<UserDocument | null> {
    return this.users.findOne({ _id: id });
  }

  /** Several users by id, in no particular order. */
  findByIds(ids: ObjectId[]): Promise<UserDocument[]> {
    return this.users.find({ _id: { $in: ids } }).toArray();
  }

  /** One user by (normalised, lower-case) e-mail, or null. */
  findByEmail(email: string): Promise<UserDocument | null> {
    return this.users.findOne({ email });
  }

  /** Which of username and e-mail already belong to someone (for a 409 that names the field). */
  async takenFields(usernameLower: string, email: string): Promise<('username' | 'email')[]> {
    const hits = await this.users.find({ $or: [{ usernameLower }, { email }] }, { projection: { usernameLower: 1, email: 1 } }).toArray();
    const taken: ('username' | 'email')[] = [];
    if (hits.some((hit) => hit.usernameLower === usernameLower)) taken.push('username');
    if (hits.some((hit) => hit.email === email)) taken.push('email');
    return taken;
  }

  /** One user by username, case-insensitively, or null. */
  findByUsername(username: string): Promise<UserDocument | null> {
    return this.users.findOne({ usernameLower: username.toLowerCase() });
  }

  /** A page of users by username (or e-mail) prefix, in username order. */
  async search(query: UserQuery): Promise<UserPage> {
    const filter: Filter<UserDocument> = {};
    if (query.prefix) {
      const pattern = `^${escapeRegex(query.prefix.toLowerCase())}`;
      Object.assign(filter, query.matchEmail ? { $or: [{ usernameLower: { $regex: pattern } }, { email: { $regex: pattern } }] } : { usernameLower: { $regex: pattern } });
    }
    if (!query.includeDisabled) filter.disabled = false;
    const users = await this.users.find(filter).sort({ usernameLower: 1 }).skip(query.skip).limit(query.limit + 1).toArray();
    return { users: users.slice(0, query.limit), hasMore: users.length > query.limit };
  }

  /** The fields token checks need, or null when the user is gone. */
  sessionState(id: ObjectId): Promise<SessionState | null> {
    return this.users.findOne({ _id: id }, { projection: sessionFields }) as Promise<SessionState | null>;
  }

  /** Every user's token-check fields, or undefined when there are more than `limit` users. */
  async sessionStates(limit: number): Promise<SessionState[] | undefined> {
    const states = (await this.users.find({}, { projection: sessionFields }).limit(limit + 1).toArray()) as SessionState[];
    return states.length > limit ? undefined : states;
  }

  /**
   * Users whose standing changed after `since` (for other processes to drop what they cached and
   * close revoked sockets). Read from the small change log rather than by `sessionsValidAfter`: the
   * embedded database answers that filter by reading every user, seconds every few seconds with 10 000.
   */
  async changedSince(since: Date): Promise<SessionState[]> {
    const entries = await this.revocations.find({ at: { $gt: since } }, { projection: { userId: 1 } }).toArray();
    const ids = [...new Set(entries.map((entry) => entry.userId.toHexString()))];
    const states = await Promise.all(ids.map((id) => this.sessionState(new ObjectId(id))));
    return states.filter((state): state is SessionState => state !== null);
  }

  /** Forgets revocations older than `before` (every hub has seen them by then). */
  async pruneRevocations(before: Date): Promise<number> {
    return (await this.revocations.deleteMany({ at: { $lt: before } })).deletedCount;
  }

  /** Applies `$set` to one user and returns the document after it, or null when the user is gone. */
  update(id: ObjectId, set: Record<string, unknown>): Promise<UserDocument | null> {
    return this.writes.run(id.toHexString(), () =>
      this.users.findOneAndUpdate({ _id: id }, { $set: { ...set, updatedAt: new Date() } }, { returnDocument: 'after' }),
    );
  }

  /** Adds `target` to the user's block list (idempotent). */
  block(id: ObjectId, target: ObjectId): Promise<UserDocument | null> {
    return this.writes.run(id.toHexString(), () =>
      this.users.findOneAndUpdate({ _id: id }, { $addToSet: { blockedUsers: target }, $set: { updatedAt: new Date() } }, { returnDocument: 'after' }),
    );
  }

  /** Removes `target` from the user's block list (idempotent). */
  unblock(id: ObjectId, target: ObjectId): Promise<UserDocument | null> {
    return this.writes.run(id.toHexString(), () =>
      this.users.findOneAndUpdate({ _id: id }, { $pull: { blockedUsers: target }, $set: { updatedAt: new Date() } }, { returnDocument: 'after' }),
    );
  }

  /** Replaces the password hash and revokes every token issued before `revokedAt`. */
  async setPassword(id: ObjectId, passwordHash: string, revokedAt: Date): Promise<UserDocument | null> {
    return this.logChange(await this.update(id, { passwordHash, sessionsValidAfter: revokedAt }));
  }

  /** Disables or enables a user; disabling also revokes every token issued before `revokedAt`. */
  async setDisabled(id: ObjectId, disabled: boolean, revokedAt: Date): Promise<UserDocument | null> {
    return this.logChange(await this.update(id, disabled ? { disabled, sessionsValidAfter: revokedAt } : { disabled }));
  }

  /** Records that the user's standing changed, after the user document says so. */
  private async logChange(user: UserDocument | null): Promise<UserDocument | null> {
    if (user) await this.revocations.insertOne({ _id: new ObjectId(), userId: user._id, at: new Date() });
    return user;
  }

  /** Changes a user's role. */
  async setRole(id: ObjectId, role: UserRole): Promise<UserDocument | null> {
    return this.logChange(await this.update(id, { role }));
  }

  /** Whether either user has blocked the other. */
  async eitherBlocked(a: ObjectId, b: ObjectId): Promise<boolean> {
    // Two lookups by `_id` rather than one `$or`: FerretDB reads every user to answer the `$or`,
    // which made each direct room's first message after the check expired cost a full scan.
    const [first, second] = await Promise.all([
      this.users.findOne({ _id: a }, { projection: { blockedUsers: 1 } }),
      this.users.findOne({ _id: b }, { projection: { blockedUsers: 1 } }),
    ]);
    const blocks = (user: Pick<UserDocument, 'blockedUsers'> | null, other: ObjectId) => (user?.blockedUsers ?? []).some((id) => id.equals(other));
    return blocks(first, b) || blocks(second, a);
  }

  /** The block lists of these users (none for a user that does not exist). */
  async blockListsOf(ids: ObjectId[]): Promise<Map<string, ObjectId[]>> {
    const rows = await this.users.find({ _id: { $in: ids } }, { projection: { blockedUsers: 1 } }).toArray();
    return new Map(rows.map((row) => [row._id.toHexString(), row.blockedUsers ?? []]));
  }

  /** Every user's block list, streamed (read once at start-up). */
  allBlockLists(): AsyncIterable<Pick<UserDocument, '_id' | 'blockedUsers'>> {
    return this.users.find({}, { projection: { blockedUsers: 1 } });
  }

  /** Stores a presence change; `lastSeen` moves whenever the user goes offline. */
  async setPresence(id: ObjectId, status: PresenceStatus, customStatus?: string): Promise<UserDocument | null> {
    const now = new Date();
    const set: Partial<UserDocument> = { status, updatedAt: now };
    if (customStatus !== undefined) set.customStatus = customStatus;
    if (status === 'offline') set.lastSeen = now;
    return this.writes.run(id.toHexString(), () => this.users.findOneAndUpdate({ _id: id }, { $set: set }, { returnDocument: 'after' }));
  }

  /** Stores the same presence change for several users, a few round trips (connections coming and going in bulk). */
  async setPresenceOf(ids: ObjectId[], status: PresenceStatus, customStatus?: string): Promise<void> {
    if (ids.length === 0) return;
    const now = new Date();
    const set: Partial<UserDocument> = { status, updatedAt: now };
    if (customStatus !== undefined) set.customStatus = customStatus;
    if (status === 'offline') set.lastSeen = now;
    // One update per user, in the user's write queue: FerretDB answers an `updateMany` with `$in`
    // by reading every user, and it would race with block-list writes to the same documents.
    await updateEachById(this.users, this.writes, ids, { $set: set });
  }

  /** Marks everyone offline: at start-up no connection is open, whatever a crash left behind. */
  async resetPresence(): Promise<number> {
    const result = await this.users.updateMany({ status: { $ne: 'offline' } }, { $set: { status: 'offline', lastSeen: new Date() } });
    return result.modifiedCount;
  }
}

/** The 409 for a taken username or e-mail, naming the field as the envelope's details. */
export function takenConflict(field: 'username' | 'email'): Conflict {
  const what = field === 'email' ? 'That e-mail is already registered' : 'That username is taken';
  return new Conflict(what, [{ path: field, message: field === 'email' ? 'already registered' : 'already taken' }]);
}

/** Parses a 24-hex id; undefined when it is not one (callers answer 400 or 404). */
export function parseObjectId(value: unknown): ObjectId | undefined {
  return typeof value === 'string' && /^[0-9a-f]{24}$/i.test(value) ? new ObjectId(value) : undefined;
}
