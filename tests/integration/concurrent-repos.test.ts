import { ObjectId, type Db, type MongoClient } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KeyedLock } from '../../src/db/keyed-lock.js';
import { migrate } from '../../src/db/migrate.js';
import { createLogger } from '../../src/logger.js';
import { FilesRepo } from '../../src/modules/files/repo.js';
import { RoomsRepo } from '../../src/modules/rooms/repo.js';
import type { RoomDocument } from '../../src/modules/rooms/types.js';
import { connectTestDb, testDatabaseUri } from '../support/chatd.js';

const logger = createLogger({ level: 'silent', pretty: false });
let client: MongoClient;
let db: Db;

beforeAll(async () => {
  ({ client, db } = await connectTestDb(testDatabaseUri('concurrent_repos')));
  await migrate(db, { logger });
});
afterAll(async () => {
  await client.close();
});

function roomDoc(): RoomDocument {
  const _id = new ObjectId();
  const at = new Date(Date.now() - 60_000);
  return { _id, name: 'r', type: 'public', description: '', createdBy: new ObjectId(), memberCount: 0, directKey: `room:${_id.toHexString()}`, lastMessageAt: at, createdAt: at, updatedAt: at };
}

describe('repos under concurrent writers', () => {
  it('rooms: member counts stay exact while activity of several rooms is recorded at the same time', async () => {
    const repo = new RoomsRepo(db);
    const [one, two] = [roomDoc(), roomDoc()];
    await repo.insert(one);
    await repo.insert(two);
    const later = new Date();
    await Promise.all([
      ...Array.from({ length: 30 }, (_, i) => repo.addToMemberCount(i % 2 === 0 ? one._id : two._id, 1)),
      repo.touchActivity([one._id, two._id], later),
      ...Array.from({ length: 10 }, () => repo.addToMemberCount(one._id, -1)),
    ]);
    const [a, b] = await Promise.all([repo.findById(one._id), repo.findById(two._id)]);
    expect(a!.memberCount).toBe(5);
    expect(b!.memberCount).toBe(15);
    expect(a!.lastMessageAt).toEqual(later);
    expect(b!.lastMessageAt).toEqual(later);
  });

  it('rooms: records the activity of 250 rooms at once (one FerretDB command of 100 updates waited for itself forever)', async () => {
    const repo = new RoomsRepo(db);
    const rooms = Array.from({ length: 250 }, () => roomDoc());
    await db.collection<RoomDocument>('rooms').insertMany(rooms);
    const later = new Date();
    await repo.touchActivity(rooms.map((room) => room._id), later);
    const touched = await db.collection<RoomDocument>('rooms').countDocuments({ _id: { $in: rooms.map((room) => room._id) }, lastMessageAt: later });
    expect(touched).toBe(250);
    // The database still answers afterwards.
    expect(await repo.findById(rooms[0]!._id)).not.toBeNull();
  }, 60_000);

  it('files: of many concurrent deletes of one file, exactly one gets the file back', async () => {
    const repo = new FilesRepo(db);
    const file = { _id: new ObjectId(), ownerId: new ObjectId(), fileName: 'a.txt', storedName: 'x', mimeType: 'text/plain', size: 1, sha256: 'aa', createdAt: new Date() };
    await repo.insert(file);
    const results = await Promise.all(Array.from({ length: 20 }, () => repo.deleteById(file._id)));
    expect(results.filter((result) => result !== null)).toHaveLength(1);
    expect(await repo.findById(file._id)).toBeNull();
  });
});

describe('KeyedLock', () => {
  it('runs work holding several keys after every earlier holder of any of them, and never deadlocks', async () => {
    const lock = new KeyedLock();
    const order: string[] = [];
    const step = (name: string, ms: number) => async () => {
      order.push(`${name}:start`);
      await new Promise((resolve) => setTimeout(resolve, ms));
      order.push(`${name}:end`);
      return name;
    };
    const results = await Promise.all([
      lock.run('a', step('a1', 30)),
      lock.runAll(['a', 'b'], step('ab', 5)),
      lock.run('b', step('b1', 5)),
      lock.runAll(['b', 'a'], step('ba', 5)),
      lock.run('c', step('c1', 1)),
    ]);
    expect(results).toEqual(['a1', 'ab', 'b1', 'ba', 'c1']);
    const at = (event: string) => order.indexOf(event);
    expect(at('ab:start')).toBeGreaterThan(at('a1:end'));
    expect(at('b1:start')).toBeGreaterThan(at('ab:end'));
    expect(at('ba:start')).toBeGreaterThan(at('b1:end'));
    // Unrelated keys do not wait.
    expect(at('c1:start')).toBeLessThan(at('a1:end'));
  });

  it('goes on after a failed holder', async () => {
    const lock = new KeyedLock();
    const failed = lock.run('k', () => Promise.reject(new Error('boom')));
    const next = lock.runAll(['k', 'j'], () => Promise.resolve('ran'));
    await expect(failed).rejects.toThrow('boom');
    await expect(next).resolves.toBe('ran');
  });
});
