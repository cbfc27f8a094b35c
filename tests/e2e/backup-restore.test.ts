import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ObjectId, type Db } from 'mongodb';
import { afterAll, describe, expect, it } from 'vitest';
import { connectTestDb, runChatd, startChatd, testDatabaseUri } from '../support/chatd.js';
import { forgeToken } from '../support/tokens.js';
import { cliEnv, connectEmbedded, databaseDigest, fileDoc, membershipDoc, messageDoc, oddTypes, roomDoc, uploadsDigest, userDoc, writeUpload } from '../support/ops.js';

const tempDir = (label: string) => mkdtempSync(join(tmpdir(), `chatd-${label}-`));
const closers: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const close of closers.reverse()) await close();
});

async function testDb(uri: string): Promise<Db> {
  const { client, db } = await connectTestDb(uri);
  closers.push(() => client.close());
  return db;
}

/** A small but complete chat: users, rooms, memberships, messages with files, odd BSON types, a collection no module knows yet. */
async function seed(db: Db, dataDir: string): Promise<void> {
  const users = Array.from({ length: 6 }, () => userDoc());
  await db.collection('users').insertMany(users);
  await db.collection('identities').insertOne({ _id: `github:${users[0]!._id.toHexString()}` as never, provider: 'github', subject: '42', userId: users[0]!._id, email: users[0]!.email, createdAt: new Date() });
  const rooms = users.slice(0, 3).map((user) => roomDoc(user._id));
  await db.collection('rooms').insertMany(rooms);
  await db.collection('memberships').insertMany(rooms.flatMap((room) => users.map((user) => membershipDoc(room._id, user._id))));
  const files = [fileDoc(users[1]!._id, 'a1b2c3', 'picture bytes'), fileDoc(users[2]!._id, 'empty-file', '')];
  await db.collection('files').insertMany(files);
  writeUpload(dataDir, 'a1b2c3', 'picture bytes');
  writeUpload(dataDir, 'empty-file', '');
  writeUpload(dataDir, 'nested/deeper/blob.bin', Buffer.from(Array.from({ length: 70_000 }, (_, i) => (i * 7) % 256)));
  const messages = [];
  for (let i = 0; i < 400; i++) {
    const room = rooms[i % rooms.length]!;
    const sender = users[i % users.length]!;
    messages.push(messageDoc(room._id, sender._id, i === 5 ? { messageType: 'file', fileAttachment: { fileId: files[0]!._id, fileName: 'a.png', fileSize: 13, fileUrl: `/api/files/${files[0]!._id.toHexString()}`, mimeType: 'image/png' } } : {}));
  }
  messages.push(messageDoc(rooms[0]!._id, users[0]!._id, { extra: oddTypes() }));
  await db.collection('messages').insertMany(messages);
  await db.collection('calls').insertOne({ _id: new ObjectId(), roomId: rooms[0]!._id, callerId: users[0]!._id, calleeId: users[1]!._id, callType: 'video', status: 'ended', startedAt: new Date(), duration: 12 });
  await db.collection('future_module_things').insertMany([{ _id: new ObjectId(), note: 'added by a later module' }, { _id: 'string-id' as never, note: 'non-ObjectId id', odd: oddTypes() }]);
  await db.collection('future_module_things').createIndex({ note: 1 }, { name: 'note_unique', unique: true });
}

function archivesIn(dir: string): string[] {
  return existsSync(dir) ? readdirSync(dir).filter((name) => name.endsWith('.tar.gz')) : [];
}

describe('backup and restore on the embedded database', { timeout: 180_000 }, () => {
  it('backs up while serve runs, restores into an empty data directory, and every document and upload is identical', async () => {
    const dataDir = tempDir('backup-src');
    const server = await startChatd({ embedded: true, dataDir });
    let archive: string;
    let before: Awaited<ReturnType<typeof databaseDigest>>;
    try {
      const { client, db } = await connectEmbedded(dataDir);
      try {
        await seed(db, dataDir);
        before = await databaseDigest(db);
      } finally {
        await client.close();
      }
      const env = await cliEnv(dataDir);
      const backup = await runChatd(['backup'], { cwd: dataDir, env, timeoutMs: 120_000 });
      expect(backup.code, backup.stderr).toBe(0);
      expect(backup.stdout).toMatch(/^wrote .*\/backups\/chatd-\d{4}-\d\d-\d\dT[\d-]+Z\.tar\.gz \(/m);
      expect(backup.stdout).toMatch(/schema at migration 0004-indexes-per-engine/);
      const names = archivesIn(join(dataDir, 'backups'));
      expect(names).toHaveLength(1);
      archive = join(dataDir, 'backups', names[0]!);
      expect(statSync(archive).mode & 0o777).toBe(0o600);
      expect(readdirSync(join(dataDir, 'backups')).filter((name) => name.includes('partial'))).toEqual([]);

      const list = await runChatd(['backup', 'list'], { cwd: dataDir, env });
      expect(list.code, list.stderr).toBe(0);
      expect(list.stdout).toContain(names[0]);
      expect(list.stdout).toMatch(/kB|MB/);

      const verify = await runChatd(['backup', '--verify', archive], { cwd: dataDir, env });
      expect(verify.code, verify.stderr).toBe(0);
      expect(verify.stdout).toMatch(/^ok: .* is a complete chatd backup/m);
      expect(verify.stdout).toMatch(/every checksum matches/);
    } finally {
      expect(await server.stop()).toBe(0);
    }

    const target = tempDir('backup-dst');
    const saved = join(tmpdir(), `chatd-roundtrip-${Date.now()}.tar.gz`);
    copyFileSync(archive, saved);
    const restore = await runChatd(['restore', saved], { cwd: target, env: await cliEnv(target), timeoutMs: 120_000 });
    expect(restore.code, restore.stderr).toBe(0);
    expect(restore.stdout).toMatch(/^restored /m);
    expect(uploadsDigest(join(target, 'uploads'))).toEqual(uploadsDigest(join(dataDir, 'uploads')));
    expect(Object.keys(uploadsDigest(join(target, 'uploads')))).toHaveLength(3);

    const restored = await startChatd({ embedded: true, dataDir: target });
    try {
      const { client, db } = await connectEmbedded(target);
      try {
        const after = await databaseDigest(db);
        expect(after).toEqual(before);
        expect(after.messages!.count).toBe(401);
        // The archive has no message index: the restored server builds one from the restored messages.
        const room = (await db.collection('rooms').find().toArray())[0]!;
        const member = (await db.collection('memberships').findOne({ roomId: room._id }))!;
        const inRoom = await db.collection('messages').countDocuments({ roomId: room._id });
        const history = await fetch(`${restored.baseUrl}/api/messages?roomId=${room._id.toHexString()}&limit=100`, { headers: { Authorization: `Bearer ${forgeToken(member.userId.toHexString())}` } });
        expect(((await history.json()) as { messages: unknown[] }).messages).toHaveLength(Math.min(100, inRoom));
        expect(restored.logs.some((line) => line.includes('rebuilding the message index'))).toBe(true);
        expect(after.future_module_things!.indexes.some((index) => index.startsWith('note_unique'))).toBe(true);
        // Types survive: a 64-bit integer is still one, a double 1.0 is not an int.
        const odd = await db.collection('messages').findOne({ extra: { $exists: true } }, { promoteValues: false, promoteLongs: false });
        expect(odd!.extra.int64._bsontype).toBe('Long');
        expect(odd!.extra.int64.toString()).toBe('9007199254740993');
        expect(odd!.extra.double._bsontype).toBe('Double');
        expect(odd!.extra.int32._bsontype).toBe('Int32');
      } finally {
        await client.close();
      }
    } finally {
      expect(await restored.stop()).toBe(0);
    }
  });

  it('refuses to restore while chatd serve runs on the same data directory, and says so', async () => {
    const dataDir = tempDir('restore-busy');
    const server = await startChatd({ embedded: true, dataDir });
    try {
      const env = await cliEnv(dataDir);
      const backup = await runChatd(['backup', '--out', join(dataDir, 'mine.tar.gz')], { cwd: dataDir, env, timeoutMs: 120_000 });
      expect(backup.code, backup.stderr).toBe(0);
      const restore = await runChatd(['restore', join(dataDir, 'mine.tar.gz'), '--force'], { cwd: dataDir, env });
      expect(restore.code).toBe(1);
      expect(restore.stderr).toMatch(/data directory .* is in use by chatd serve \(process \d+, PORT \d+.*nothing was changed/);
      expect(restore.stderr).toMatch(/hint: stop it first/);
    } finally {
      expect(await server.stop()).toBe(0);
    }
  });
});

describe('backup and restore against a MongoDB URI', { timeout: 180_000 }, () => {
  const sourceUri = testDatabaseUri('bk_src');
  const sourceDir = tempDir('uri-src');
  let archive = '';
  let before: Awaited<ReturnType<typeof databaseDigest>>;

  it('backs up and restores into an empty database, identical', async () => {
    const migrate = await runChatd(['migrate'], { cwd: sourceDir, env: await cliEnv(sourceDir, sourceUri) });
    expect(migrate.code, migrate.stderr).toBe(0);
    const source = await testDb(sourceUri);
    await seed(source, sourceDir);
    before = await databaseDigest(source);
    archive = join(sourceDir, 'snapshot.tar.gz');
    const backup = await runChatd(['backup', '--out', archive], { cwd: sourceDir, env: await cliEnv(sourceDir, sourceUri) });
    expect(backup.code, backup.stderr).toBe(0);
    expect(backup.stdout).toContain(`wrote ${archive}`);
    expect(backup.stdout).toMatch(/ documents in \d+ collections, 3 uploads/);

    const again = await runChatd(['backup', '--out', archive], { cwd: sourceDir, env: await cliEnv(sourceDir, sourceUri) });
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/already exists/);

    const targetUri = testDatabaseUri('bk_dst');
    const targetDir = tempDir('uri-dst');
    const restore = await runChatd(['restore', archive], { cwd: targetDir, env: await cliEnv(targetDir, targetUri) });
    expect(restore.code, restore.stderr).toBe(0);
    expect(await databaseDigest(await testDb(targetUri))).toEqual(before);
    expect(uploadsDigest(join(targetDir, 'uploads'))).toEqual(uploadsDigest(join(sourceDir, 'uploads')));
  });

  it('refuses a non-empty database without --force and changes nothing; --force replaces it', async () => {
    const targetUri = testDatabaseUri('bk_busy');
    const targetDir = tempDir('uri-busy');
    const env = await cliEnv(targetDir, targetUri);
    expect((await runChatd(['migrate'], { cwd: targetDir, env })).code).toBe(0);
    const target = await testDb(targetUri);
    const someone = userDoc();
    await target.collection('users').insertOne(someone);
    await target.collection('rooms').insertOne(roomDoc(someone._id));
    writeUpload(targetDir, 'existing-upload', 'keep me');
    const untouched = await databaseDigest(target);

    const refused = await runChatd(['restore', archive], { cwd: targetDir, env });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^chatd: the database is not empty \(rooms: 1 document\(s\), users: 1 document\(s\), .*uploads holds files\); nothing was changed$/m);
    expect(refused.stderr).toMatch(/hint: add --force/);
    expect(await databaseDigest(target)).toEqual(untouched);
    expect(readFileSync(join(targetDir, 'uploads', 'existing-upload'), 'utf8')).toBe('keep me');

    const forced = await runChatd(['restore', archive, '--force'], { cwd: targetDir, env });
    expect(forced.code, forced.stderr).toBe(0);
    expect(await databaseDigest(target)).toEqual(before);
    expect(uploadsDigest(join(targetDir, 'uploads'))).toEqual(uploadsDigest(join(sourceDir, 'uploads')));
  });

  it('refuses a truncated archive and one with a flipped byte with a clear message, changing nothing', async () => {
    const bytes = readFileSync(archive);
    const truncated = join(sourceDir, 'truncated.tar.gz');
    writeFileSync(truncated, bytes.subarray(0, Math.floor(bytes.length * 0.6)));
    const flipped = join(sourceDir, 'flipped.tar.gz');
    const copy = Buffer.from(bytes);
    const at = Math.floor(copy.length / 2);
    copy[at] = copy[at]! ^ 0x20;
    writeFileSync(flipped, copy);
    const cutAtEnd = join(sourceDir, 'cut-at-end.tar.gz');
    writeFileSync(cutAtEnd, bytes.subarray(0, bytes.length - 4));

    const targetUri = testDatabaseUri('bk_damaged');
    const targetDir = tempDir('uri-damaged');
    const env = await cliEnv(targetDir, targetUri);
    expect((await runChatd(['migrate'], { cwd: targetDir, env })).code).toBe(0);
    const target = await testDb(targetUri);
    const someone = userDoc();
    await target.collection('users').insertOne(someone);
    writeUpload(targetDir, 'existing-upload', 'keep me');
    const untouched = await databaseDigest(target);

    for (const [file, reason] of [
      [truncated, /truncated|corrupted/],
      [flipped, /corrupted|checksum|truncated/],
      [cutAtEnd, /truncated|corrupted/],
    ] as const) {
      const verify = await runChatd(['backup', '--verify', file], { cwd: targetDir, env });
      expect(verify.code, file).toBe(1);
      expect(verify.stderr).toMatch(new RegExp(`^chatd: ${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} is not a usable backup: `, 'm'));
      expect(verify.stderr).toMatch(reason);
      expect(verify.stderr).not.toMatch(/at .*\.js:\d+/);

      const restore = await runChatd(['restore', file, '--force'], { cwd: targetDir, env });
      expect(restore.code, file).toBe(1);
      expect(restore.stderr).toMatch(/cannot be restored: .*; nothing was changed/);
      expect(await databaseDigest(target)).toEqual(untouched);
      expect(uploadsDigest(join(targetDir, 'uploads'))).toEqual({ 'existing-upload': uploadsDigest(join(targetDir, 'uploads'))['existing-upload'] });
      expect(readdirSync(targetDir).filter((name) => name.startsWith('uploads.'))).toEqual([]);
    }
  });

  it('applies the migrations newer than the backup, and refuses a backup from a newer chatd', async () => {
    const oldUri = testDatabaseUri('bk_old');
    const oldDir = tempDir('uri-old');
    const old = await testDb(oldUri);
    // A database from before any migration: documents, no migration records, no indexes.
    const someone = userDoc();
    await old.collection('users').insertOne(someone);
    const oldArchive = join(oldDir, 'old.tar.gz');
    expect((await runChatd(['backup', '--out', oldArchive], { cwd: oldDir, env: await cliEnv(oldDir, oldUri) })).code).toBe(0);

    const targetUri = testDatabaseUri('bk_upgraded');
    const targetDir = tempDir('uri-upgraded');
    const restore = await runChatd(['restore', oldArchive], { cwd: targetDir, env: await cliEnv(targetDir, targetUri) });
    expect(restore.code, restore.stderr).toBe(0);
    expect(restore.stdout).toMatch(/applied newer migrations: 0001-initial/);
    const target = await testDb(targetUri);
    expect(await target.collection('users').findOne({ _id: someone._id })).toMatchObject({ username: someone.username });
    expect((await target.collection('users').listIndexes().toArray()).map((index) => index.name)).toContain('email_unique');

    await old.collection('migrations').insertOne({ _id: '9999-from-the-future' as never, description: 'a newer chatd', appliedAt: new Date(), durationMs: 1 });
    const futureArchive = join(oldDir, 'future.tar.gz');
    expect((await runChatd(['backup', '--out', futureArchive], { cwd: oldDir, env: await cliEnv(oldDir, oldUri) })).code).toBe(0);
    const emptyUri = testDatabaseUri('bk_future');
    const refused = await runChatd(['restore', futureArchive], { cwd: tempDir('uri-future'), env: await cliEnv(oldDir, emptyUri) });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/migrations this chatd does not know \(9999-from-the-future\); nothing was changed/);
    expect(await (await testDb(emptyUri)).listCollections().toArray()).toEqual([]);
  });

  it('refuses to restore while a chatd serves on this machine\'s PORT', async () => {
    const server = await startChatd({ mongoUri: sourceUri });
    try {
      const env = await cliEnv(sourceDir, sourceUri, { PORT: String(server.httpPort) });
      const refused = await runChatd(['restore', archive, '--force'], { cwd: sourceDir, env });
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(new RegExp(`a chatd is serving on port ${server.httpPort} of this machine; nothing was changed`));
      expect(await databaseDigest(await testDb(sourceUri))).toEqual(before);
    } finally {
      expect(await server.stop()).toBe(0);
    }
  });

  it('says what is wrong with a missing archive or a bad --out', async () => {
    const env = await cliEnv(sourceDir, sourceUri);
    const missing = await runChatd(['restore', join(sourceDir, 'nope.tar.gz')], { cwd: sourceDir, env });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/nope\.tar\.gz does not exist/);
    const badOut = await runChatd(['backup', '--out', join(sourceDir, 'no-such-dir', 'x.tar.gz')], { cwd: sourceDir, env });
    expect(badOut.code).toBe(1);
    expect(badOut.stderr).toMatch(/directory .*no-such-dir does not exist/);
    const notArchive = join(sourceDir, 'plain.txt');
    writeFileSync(notArchive, 'hello');
    const verify = await runChatd(['backup', '--verify', notArchive], { cwd: sourceDir, env });
    expect(verify.code).toBe(1);
    expect(verify.stderr).toMatch(/is not a usable backup: not a gzip archive/);
  });
});
