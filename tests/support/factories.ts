import { randomBytes } from 'node:crypto';
import { ObjectId, type Db } from 'mongodb';
import type { UserDocument } from '../../src/modules/users/types.js';
import { forgeToken } from './tokens.js';

/**
 * Inserts a complete user document straight into the database and returns it with an access
 * token signed by the test secret. For tests of modules that need users but not the sign-up
 * path; the accounts tests go through the REST API instead.
 */
export async function createUser(db: Db, overrides: Partial<UserDocument> = {}): Promise<UserDocument & { token: string; id: string }> {
  const suffix = randomBytes(4).toString('hex');
  const now = new Date();
  const username = overrides.username ?? `user_${suffix}`;
  const user: UserDocument = {
    _id: new ObjectId(),
    username,
    usernameLower: username.toLowerCase(),
    email: `${username.toLowerCase()}@example.test`,
    passwordHash: null,
    avatar: '',
    bio: '',
    location: '',
    website: '',
    settings: { theme: 'light', notifications: true, encryption: false },
    status: 'offline',
    customStatus: '',
    lastSeen: now,
    blockedUsers: [],
    isPremium: false,
    oauthProvider: null,
    role: 'user',
    disabled: false,
    sessionsValidAfter: new Date(now.getTime() - 60_000),
    createdAt: now,
    updatedAt: now,
    ...overrides,
  };
  await db.collection<UserDocument>('users').insertOne(user);
  const id = user._id.toHexString();
  return { ...user, id, token: forgeToken(id, { claims: { role: user.role } }) };
}
