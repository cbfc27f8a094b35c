import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Db, MongoClient } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate, migrationStatus } from '../../src/db/migrate.js';
import { migration as initial } from '../../src/db/migrations/0001-initial.js';
import type { Migration } from '../../src/db/migrations/types.js';
import { createLogger } from '../../src/logger.js';
import { createBackup } from '../../src/ops/backup/backup.js';
import { CollectionsRepo } from '../../src/ops/backup/collections-repo.js';
import { restoreBackup } from '../../src/ops/backup/restore.js';
import { connectTestDb, testDatabaseUri } from '../support/chatd.js';
import { databaseDigest, membershipDoc, messageDoc, roomDoc, userDoc } from '../support/ops.js';

const logger = createLogger({ level: 'silent', pretty: false });
const clients: MongoClient[] = [];
const tempDir = (label: string) => mkdtempSync(join(tmpdir(), `chatd-${label}-`));

async function freshDb(label: string): Promise<Db> {
  const { client, db } = await connectTestDb(testDatabaseUri(label));
  clients.push(client);
  return db;
}

afterAll(async () => {
  await Promise.all(clients.map((client) => client.close()));
});

/** A second migration as a newer chatd would ship it: a backfill of existing documents and an index. */
const backfill: Migration = {
  id: '0002-test-display-names',
  description: 'users get a displayName (their username) and an index on it',
  async up(db) {
    for await (const user of db.collection('users').find({ displayName: { $exists: false } }, { projection: { username: 1 } })) {
      await db.collection('users').updateOne({ _id: user._id, displayName: { $exists: false } }, { $set: { displayName: user.username } });
    }
    await db.collection('users').createIndex({ displayName: 1 }, { name: 'display_name' });
  },
};
const older = [initial];
const newer = [initial, backfill];

describe('restoring a backup from an older chatd into a newer one', () => {
  let archive: string;
  let before: Awaited<ReturnType<typeof databaseDigest>>;
  let usernames: string[];

  beforeAll(async () => {
    // A chatd at migration 0001 only, with data.
    const source = await freshDb('upgrade_src');
    await migrate(source, { logger, migrations: older });
    const users = Array.from({ length: 5 }, () => userDoc());
    usernames = users.map((user) => user.username).sort();
    await source.collection('users').insertMany(users);
    const room = roomDoc(users[0]!._id);
    await source.collection('rooms').insertOne(room);
    await source.collection('memberships').insertMany(users.map((user) => membershipDoc(room._id, user._id)));
    await source.collection('messages').insertMany(Array.from({ length: 50 }, (_, i) => messageDoc(room._id, users[i % users.length]!._id)));
    before = await databaseDigest(source);
    const dir = tempDir('upgrade');
    const result = await createBackup({ collections: new CollectionsRepo(source), databaseKind: 'mongodb', dataDir: dir, backupDir: dir, out: join(dir, 'at-0001.tar.gz') });
    expect(result.manifest.lastMigration).toBe('0001-initial');
    archive = result.file;
  });

  const restoreInto = (db: Db, force = false) =>
    restoreBackup({
      file: archive,
      collections: new CollectionsRepo(db),
      dataDir: tempDir('upgrade-target'),
      force,
      knownMigrations: newer.map((migration) => migration.id),
      applyMigrations: () => migrate(db, { logger, migrations: newer }),
    });

  it('restores the data, then applies the newer migration to it', async () => {
    const target = await freshDb('upgrade_dst');
    const result = await restoreInto(target);
    expect(result.migrationsApplied).toEqual(['0002-test-display-names']);
    expect((await migrationStatus(target, newer)).map((entry) => [entry.id, entry.appliedAt instanceof Date, entry.known])).toEqual([
      ['0001-initial', true, true],
      ['0002-test-display-names', true, true],
    ]);
    // Everything the backup held is there unchanged, apart from what the migration added.
    const after = await databaseDigest(target);
    // The embedded database keeps the backup's unique indexes only (src/db/index-layout.ts).
    const onEmbedded = (indexes: string[]) => indexes.filter((index) => index.startsWith('_id_:') || index.endsWith(':unique'));
    for (const name of ['rooms', 'memberships', 'messages']) {
      expect(after[name], name).toEqual({ ...before[name], indexes: onEmbedded(before[name]!.indexes) });
    }
    expect(after.users!.count).toBe(before.users!.count);
    expect(after.users!.indexes).toEqual([...onEmbedded(before.users!.indexes), 'display_name:{"displayName":1}:'].sort());
    const names = await target.collection('users').find({}, { projection: { username: 1, displayName: 1 } }).toArray();
    expect(names.every((user) => user.displayName === user.username)).toBe(true);
    expect(names.map((user) => user.username).sort()).toEqual(usernames);
  });

  it('restores over a database already at the newer migration with --force, and migrates again', async () => {
    const target = await freshDb('upgrade_force');
    await migrate(target, { logger, migrations: newer });
    await target.collection('users').insertOne(userDoc({ displayName: 'someone newer' }));
    const result = await restoreInto(target, true);
    expect(result.migrationsApplied).toEqual(['0002-test-display-names']);
    expect(await target.collection('users').countDocuments({ displayName: 'someone newer' })).toBe(0);
    expect(await target.collection('users').countDocuments({ displayName: { $exists: true } })).toBe(usernames.length);
  });

  it('refuses without --force when the newer database holds data, changing nothing', async () => {
    const target = await freshDb('upgrade_busy');
    await migrate(target, { logger, migrations: newer });
    await target.collection('users').insertOne(userDoc());
    const untouched = await databaseDigest(target);
    await expect(restoreInto(target)).rejects.toThrow(/the database is not empty \(users: 1 document\(s\)\); nothing was changed/);
    expect(await databaseDigest(target)).toEqual(untouched);
  });
});
