import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ObjectId, type Db, type MongoClient } from 'mongodb';
import { migration as relativeAvatars } from '../../src/db/migrations/0003-relative-avatars.js';
import { migrate, migrationStatus, pendingMigrations } from '../../src/db/migrate.js';
import type { Migration } from '../../src/db/migrations/types.js';
import { createLogger } from '../../src/logger.js';
import { connectTestDb, testDatabaseUri } from '../support/chatd.js';

const logger = createLogger({ level: 'silent', pretty: false });
let client: MongoClient;
let db: Db;

beforeAll(async () => {
  ({ client, db } = await connectTestDb(testDatabaseUri('migrations')));
});
afterAll(async () => {
  await client.close();
});

describe('migrations', () => {
  it('applies the initial migration once and records it; a second run applies nothing', async () => {
    expect((await pendingMigrations(db)).map((m) => m.id)).toContain('0001-initial');
    const first = await migrate(db, { logger });
    expect(first).toContain('0001-initial');
    expect(await migrate(db, { logger })).toEqual([]);
    const status = await migrationStatus(db);
    expect(status.every((entry) => entry.appliedAt instanceof Date)).toBe(true);
    expect(await db.collection('locks').countDocuments()).toBe(0);
  });

  it('creates unique indexes that hold', async () => {
    const users = db.collection('users');
    await users.insertOne({ usernameLower: 'ada', email: 'ada@example.com' });
    await expect(users.insertOne({ usernameLower: 'ada', email: 'other@example.com' })).rejects.toMatchObject({ code: 11000 });
    await expect(users.insertOne({ usernameLower: 'bob', email: 'ada@example.com' })).rejects.toMatchObject({ code: 11000 });
    const messages = db.collection('messages');
    await messages.insertOne({ senderId: 'u1', clientMsgId: 'c1', roomId: 'r' });
    await expect(messages.insertOne({ senderId: 'u1', clientMsgId: 'c1', roomId: 'r' })).rejects.toMatchObject({ code: 11000 });
  });

  it('0003 makes stored default avatars relative (any old PUBLIC_URL), keeps chosen pictures, and can run twice', async () => {
    const users = db.collection('avatars_probe_users');
    const probe = { collection: (name: string) => (name === 'users' ? users : db.collection(name)) } as unknown as Db;
    const [own, prefixed, chosen, other, none] = [new ObjectId(), new ObjectId(), new ObjectId(), new ObjectId(), new ObjectId()];
    await users.insertMany([
      { _id: own, avatar: `http://localhost:3000/api/users/${own.toHexString()}/avatar` },
      { _id: prefixed, avatar: `https://chat.example.com/chat/api/users/${prefixed.toHexString()}/avatar` },
      { _id: chosen, avatar: 'https://images.example/me.png' },
      // Another user's generated avatar, chosen on purpose: a picture like any other.
      { _id: other, avatar: `http://localhost:3000/api/users/${own.toHexString()}/avatar` },
      { _id: none, avatar: null },
    ]);
    await relativeAvatars.up(probe);
    await relativeAvatars.up(probe);
    const avatars = new Map((await users.find().toArray()).map((user) => [user._id.toHexString(), user.avatar]));
    expect(avatars.get(own.toHexString())).toBe(`/api/users/${own.toHexString()}/avatar`);
    expect(avatars.get(prefixed.toHexString())).toBe(`/api/users/${prefixed.toHexString()}/avatar`);
    expect(avatars.get(chosen.toHexString())).toBe('https://images.example/me.png');
    expect(avatars.get(other.toHexString())).toBe(`http://localhost:3000/api/users/${own.toHexString()}/avatar`);
    expect(avatars.get(none.toHexString())).toBeNull();
  });

  it('lets only one of two concurrent runs apply a migration', async () => {
    let runs = 0;
    const slow: Migration = {
      id: '9001-slow-test',
      description: 'counts its runs',
      async up(target) {
        runs += 1;
        await new Promise((resolve) => setTimeout(resolve, 300));
        await target.collection('probe').insertOne({ at: new Date() });
      },
    };
    const [a, b] = await Promise.all([migrate(db, { logger, migrations: [slow] }), migrate(db, { logger, migrations: [slow] })]);
    expect([...a, ...b]).toEqual(['9001-slow-test']);
    expect(runs).toBe(1);
    expect(await db.collection('probe').countDocuments()).toBe(1);
    expect(await db.collection('migrations').countDocuments({ _id: '9001-slow-test' as never })).toBe(1);
  });

  it('re-runs an interrupted migration and takes over a stale lock', async () => {
    let attempts = 0;
    const flaky: Migration = {
      id: '9002-flaky-test',
      description: 'fails the first time',
      async up() {
        attempts += 1;
        if (attempts === 1) throw new Error('power cut');
      },
    };
    await expect(migrate(db, { logger, migrations: [flaky] })).rejects.toThrow('power cut');
    expect((await pendingMigrations(db, [flaky])).map((m) => m.id)).toEqual(['9002-flaky-test']);
    // A crashed holder leaves its lock behind with an old heartbeat.
    await db.collection('locks').insertOne({ _id: 'migrations' as never, owner: 'crashed', acquiredAt: new Date(0), heartbeatAt: new Date(0) });
    expect(await migrate(db, { logger, migrations: [flaky] })).toEqual(['9002-flaky-test']);
    expect(attempts).toBe(2);
  });

  it('waits for a live lock and gives up with a clear message', async () => {
    await db.collection('locks').insertOne({ _id: 'migrations' as never, owner: 'other-host:42', acquiredAt: new Date(), heartbeatAt: new Date() });
    await expect(migrate(db, { logger, lockTimeoutMs: 500 })).rejects.toThrow(/another process \(other-host:42\) is applying migrations/);
    await db.collection('locks').deleteMany({});
  });
});
