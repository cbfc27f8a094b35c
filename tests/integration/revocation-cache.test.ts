import { ObjectId, type Db, type MongoClient } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../../src/db/migrate.js';
import { createLogger } from '../../src/logger.js';
import { RevocationCache } from '../../src/modules/auth/revocation-cache.js';
import { TokensRepo } from '../../src/modules/auth/tokens-repo.js';
import { UsersRepo } from '../../src/modules/users/repo.js';
import { connectTestDb, testDatabaseUri } from '../support/chatd.js';
import { createUser } from '../support/factories.js';

// The token checks' memory against the real database: read once, kept current by this process's
// changes, and read again in full as the safety net beside the change log.

const logger = createLogger({ level: 'silent', pretty: false });
let client: MongoClient;
let db: Db;

beforeAll(async () => {
  ({ client, db } = await connectTestDb(testDatabaseUri('revocation_cache')));
  await migrate(db, { logger });
});
afterAll(async () => {
  await client.close();
});

function cacheOn(database: Db) {
  const users = new UsersRepo(database);
  const tokens = new TokensRepo(database);
  return new RevocationCache(
    {
      sessionState: (id) => users.sessionState(id),
      sessionStates: (limit) => users.sessionStates(limit),
      existing: (ids) => tokens.existing(ids),
      liveRevocations: () => tokens.liveRevocations(),
    },
    { ttlMs: 5_000, followedTtlMs: 600_000, preloadLimit: 1_000 },
  );
}

describe('the token checks’ memory', () => {
  it('answers from its one read, and a full read again picks up what the log could have missed', async () => {
    const alice = await createUser(db);
    const family = `fam-${new ObjectId().toHexString()}`;
    await db.collection('tokens').insertOne({ _id: `family:${family}` as never, kind: 'revoked-family', userId: alice._id, family, expiresAt: new Date(Date.now() + 60_000), createdAt: new Date() });
    const cache = cacheOn(db);
    const read = await cache.preload();
    expect(read.users).toBeGreaterThanOrEqual(1);
    expect(await cache.anyRevoked([`family:${family}`])).toBe(true);
    expect(await cache.anyRevoked([`access:${new ObjectId().toHexString()}`])).toBe(false);
    expect((await cache.sessionState(alice._id))?.disabled).toBe(false);

    // Written behind the cache's back and never logged: the memory keeps its answer until the full read.
    await db.collection('users').updateOne({ _id: alice._id }, { $set: { disabled: true } });
    expect((await cache.sessionState(alice._id))?.disabled).toBe(false);
    await cache.refresh();
    expect((await cache.sessionState(alice._id))?.disabled).toBe(true);
  });

  it('keeps a change made while a full read runs, rather than what the read saw', async () => {
    const bob = await createUser(db, { role: 'user' });
    const cache = cacheOn(db);
    await cache.preload();
    const refreshing = cache.refresh();
    // This process promotes bob while the read is in flight: the read's older view must not win.
    await db.collection('users').updateOne({ _id: bob._id }, { $set: { role: 'admin' } });
    cache.forgetUser(bob.id);
    await refreshing;
    expect((await cache.sessionState(bob._id))?.role).toBe('admin');
  });

  it('keeps revocations this process made before and while it reads', async () => {
    const cache = cacheOn(db);
    const early = `access:${new ObjectId().toHexString()}`;
    cache.markRevoked(early, new Date(Date.now() + 60_000));
    const loading = cache.preload();
    const during = `family:${new ObjectId().toHexString()}`;
    cache.markRevoked(during, new Date(Date.now() + 60_000));
    await loading;
    expect(await cache.anyRevoked([early])).toBe(true);
    expect(await cache.anyRevoked([during])).toBe(true);
    const lapsed = `access:${new ObjectId().toHexString()}`;
    cache.markRevoked(lapsed, new Date(Date.now() - 1));
    expect(await cache.anyRevoked([lapsed])).toBe(false);
  });
});
