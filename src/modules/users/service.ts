import { ObjectId } from 'mongodb';
import { Forbidden, Invalid, NotFound } from '../../errors.js';
import { defaultAvatarPath } from './avatar.js';
import { parseObjectId, takenConflict, type UserPage, type UsersRepo } from './repo.js';
import type { ProfileUpdate } from './schemas.js';
import { newUserDocument } from './document.js';
import type { UserDocument, UserRole } from './types.js';

/** Hashes passwords (the accounts module's bcrypt). */
export interface PasswordHashing {
  hash(password: string): Promise<string>;
}

/** The accounts module's side of a change to a user's standing. */
export interface SessionRevoker {
  /** Ends every session of a user after their `sessionsValidAfter` moved. */
  revokeAll(userId: ObjectId, reason: string): Promise<void>;
  /** The user's role or enabled state changed: token checks must not use what they cached. */
  standingChanged(userId: ObjectId): void;
}

export interface NewUser {
  /** Chosen by the caller when something (an OAuth identity) must point at the user before it exists. */
  id?: ObjectId;
  username: string;
  /** Already normalised (lower-case). */
  email: string;
  /** Already checked against the policy; null for accounts that sign in only through OAuth. */
  password: string | null;
  role?: UserRole;
  oauthProvider?: UserDocument['oauthProvider'];
  avatar?: string;
}

export interface UsersServiceDeps {
  users: UsersRepo;
  hasher: PasswordHashing;
  sessions: SessionRevoker;
  /** Presence of connected users (only `chatd serve` has it; the CLI shows what is stored). */
  presence?: { apply<T extends Pick<UserDocument, '_id' | 'status' | 'customStatus'>>(user: T): T };
}

export interface PageRequest {
  search?: string;
  page: number;
  limit: number;
}

/**
 * Accounts as data: creation, profiles, blocking, search and the administrator's operations. The
 * REST API, the admin API and `chatd admin` all call this one service.
 */
export class UsersService {
  private readonly blockListeners: ((user: UserDocument) => void)[] = [];

  constructor(private readonly deps: UsersServiceDeps) {}

  /** Calls `listener` with the user's new document after every block or unblock, so cached answers to "may these two talk?" are dropped. */
  onBlocksChanged(listener: (user: UserDocument) => void): void {
    this.blockListeners.push(listener);
  }

  /** The user with the status others see now (live presence where this process has it). */
  seen(user: UserDocument): UserDocument {
    return this.deps.presence?.apply(user) ?? user;
  }

  /** Creates a user; a taken username or e-mail is a 409 naming the field. */
  async create(input: NewUser): Promise<UserDocument> {
    const usernameLower = input.username.toLowerCase();
    const [taken] = await this.deps.users.takenFields(usernameLower, input.email);
    if (taken) throw takenConflict(taken);
    const _id = input.id ?? new ObjectId();
    const user = newUserDocument({
      _id,
      username: input.username,
      email: input.email,
      passwordHash: input.password === null ? null : await this.deps.hasher.hash(input.password),
      avatar: input.avatar ?? defaultAvatarPath(_id.toHexString()),
      role: input.role,
      oauthProvider: input.oauthProvider,
    });
    await this.deps.users.insert(user);
    return user;
  }

  /** A user by id, disabled or not; 404 when there is none. */
  async get(id: ObjectId): Promise<UserDocument> {
    const user = await this.deps.users.findById(id);
    if (!user) throw new NotFound('User not found');
    return this.seen(user);
  }

  /** A user others may look at: disabled accounts are hidden. */
  async getVisible(id: ObjectId): Promise<UserDocument> {
    const user = await this.deps.users.findById(id);
    if (!user || user.disabled) throw new NotFound('User not found');
    return this.seen(user);
  }

  /** Finds a user by id, e-mail or username (for the CLI, where people type what they know). */
  async findByHandle(handle: string): Promise<UserDocument> {
    const id = parseObjectId(handle);
    const user = id
      ? await this.deps.users.findById(id)
      : handle.includes('@')
        ? await this.deps.users.findByEmail(handle.trim().toLowerCase())
        : await this.deps.users.findByUsername(handle);
    if (!user) throw new NotFound(`No user ${handle}`);
    return user;
  }

  /** Enabled users whose username starts with `search`, a page at a time. */
  async search(request: PageRequest): Promise<UserPage> {
    const page = await this.deps.users.search({ prefix: request.search, skip: (request.page - 1) * request.limit, limit: request.limit });
    return { ...page, users: page.users.map((user) => this.seen(user)) };
  }

  /** Every user (the administrator's list), matching username or e-mail prefix. */
  async list(request: PageRequest): Promise<UserPage> {
    const page = await this.deps.users.search({ prefix: request.search, matchEmail: true, includeDisabled: true, skip: (request.page - 1) * request.limit, limit: request.limit });
    return { ...page, users: page.users.map((user) => this.seen(user)) };
  }

  /** Changes the caller's profile fields and settings. */
  async updateProfile(id: ObjectId, update: ProfileUpdate): Promise<UserDocument> {
    const set: Record<string, unknown> = {};
    for (const field of ['bio', 'location', 'website'] as const) if (update[field] !== undefined) set[field] = update[field];
    if (update.avatar !== undefined) set.avatar = update.avatar === '' ? defaultAvatarPath(id.toHexString()) : update.avatar;
    for (const [key, value] of Object.entries(update.settings ?? {})) if (value !== undefined) set[`settings.${key}`] = value;
    if (Object.keys(set).length === 0) return this.get(id);
    const user = await this.deps.users.update(id, set);
    if (!user) throw new NotFound('User not found');
    return this.seen(user);
  }

  /** Adds `targetId` to the caller's block list. */
  async block(id: ObjectId, targetId: ObjectId): Promise<UserDocument> {
    if (id.equals(targetId)) throw new Invalid('You cannot block yourself', [{ path: 'userId', message: 'is your own id' }]);
    await this.get(targetId);
    const user = await this.deps.users.block(id, targetId);
    if (!user) throw new NotFound('User not found');
    this.blockListeners.forEach((listener) => listener(user));
    return this.seen(user);
  }

  /** Removes `targetId` from the caller's block list. */
  async unblock(id: ObjectId, targetId: ObjectId): Promise<UserDocument> {
    if (id.equals(targetId)) throw new Invalid('You cannot unblock yourself', [{ path: 'userId', message: 'is your own id' }]);
    const user = await this.deps.users.unblock(id, targetId);
    if (!user) throw new NotFound('User not found');
    this.blockListeners.forEach((listener) => listener(user));
    return this.seen(user);
  }

  /** Disables (ending every session and connection) or enables a user. */
  async setDisabled(id: ObjectId, disabled: boolean, actorId?: ObjectId): Promise<UserDocument> {
    if (disabled && actorId?.equals(id)) throw new Forbidden('You cannot disable your own account');
    const user = await this.deps.users.setDisabled(id, disabled, new Date());
    if (!user) throw new NotFound('User not found');
    if (disabled) await this.deps.sessions.revokeAll(id, 'account disabled');
    else this.deps.sessions.standingChanged(id);
    return this.seen(user);
  }

  /** Makes a user an administrator or a regular user. */
  async setRole(id: ObjectId, role: UserRole, actorId?: ObjectId): Promise<UserDocument> {
    if (role !== 'admin' && actorId?.equals(id)) throw new Forbidden('You cannot remove your own administrator role');
    const user = await this.deps.users.setRole(id, role);
    if (!user) throw new NotFound('User not found');
    this.deps.sessions.standingChanged(id);
    return this.seen(user);
  }

  /** Sets a new (policy-checked) password and ends every session of the user. */
  async setPassword(id: ObjectId, password: string, reason: string): Promise<UserDocument> {
    const user = await this.deps.users.setPassword(id, await this.deps.hasher.hash(password), new Date());
    if (!user) throw new NotFound('User not found');
    await this.deps.sessions.revokeAll(id, reason);
    return this.seen(user);
  }
}
