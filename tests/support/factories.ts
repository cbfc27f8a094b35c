import { randomBytes } from 'node:crypto';
import { ObjectId, type Db } from 'mongodb';
import { newUserDocument } from '../../src/modules/users/document.js';
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
    ...newUserDocument({ _id: new ObjectId(), username, email: `${username.toLowerCase()}@example.test`, passwordHash: null, avatar: '' }, now),
    // A minute back, so tokens forged with a whole-second `iat` in this second are not "revoked".
    sessionsValidAfter: new Date(now.getTime() - 60_000),
    ...overrides,
  };
  await db.collection<UserDocument>('users').insertOne(user);
  const id = user._id.toHexString();
  return { ...user, id, token: forgeToken(id, { claims: { role: user.role } }) };
}
