import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ObjectId, type Db, type MongoClient } from 'mongodb';
import { afterAll, describe, expect, it } from 'vitest';
import { migrate } from '../../src/db/migrate.js';
import { migrations } from '../../src/db/migrations/index.js';
import { createLogger } from '../../src/logger.js';
import { apiClient } from '../support/api.js';
import { connectTestDb, runChatd, startChatd, testDatabaseUri, type ChatdServer } from '../support/chatd.js';
import { HubClient } from '../support/hub-client.js';
import { join as joinRoom } from '../support/messaging.js';
import { cliEnv, databaseDigest, fileDoc, membershipDoc, messageDoc, roomDoc, userDoc, writeUpload } from '../support/ops.js';
import { forgeToken } from '../support/tokens.js';

// The upgrade path: a database an older chatd left at migration 0001, holding users, rooms,
// memberships with read markers, messages with edits, reactions, receipts and deletes, and a
// shared file. Upgrading (`chatd migrate`, or `chatd serve` applying it at start) must keep every
// document as it was and answer history, unread counts, resume and file access correctly.

const logger = createLogger({ level: 'silent', pretty: false });
const clients: MongoClient[] = [];
const tempDir = (label: string) => mkdtempSync(join(tmpdir(), `chatd-${label}-`));

afterAll(async () => {
  await Promise.all(clients.map((client) => client.close()));
});

async function databaseAtMigrationOne(prefix: string): Promise<{ uri: string; db: Db }> {
  const uri = testDatabaseUri(prefix);
  const { client, db } = await connectTestDb(uri);
  clients.push(client);
  await migrate(db, { logger, migrations: [migrations[0]!] });
  expect((await db.collection('migrations').find().toArray()).map((record) => record._id)).toEqual(['0001-initial']);
  return { uri, db };
}

/** What an older chatd left behind, and what a client must see of it. */
async function seed(db: Db, dataDir: string) {
  const [alice, bob, carol] = [userDoc(), userDoc(), userDoc()];
  await db.collection('users').insertMany([alice, bob, carol]);
  const general = roomDoc(alice._id, { memberCount: 3 });
  const secret = roomDoc(alice._id, { type: 'private', memberCount: 2 });
  const quiet = roomDoc(bob._id, { memberCount: 1 });
  await db.collection('rooms').insertMany([general, secret, quiet]);

  // Two hours of history a minute apart, ids made at the time as chatd does.
  const start = Math.floor(Date.now() / 1000) - 3 * 3600;
  const at = (minute: number) => new Date((start + minute * 60) * 1000);
  const senders = [alice, bob, carol];
  const talk = Array.from({ length: 40 }, (_, i) => messageDoc(general._id, senders[i % 3]!._id, { _id: new ObjectId(start + i * 60), createdAt: at(i) }));
  const since = talk[25]!;
  const later = at(150);
  Object.assign(talk[3]!, { content: 'edited early', editHistory: [{ content: talk[3]!.content, editedAt: at(10) }], editedAt: at(10), updatedAt: at(10) });
  Object.assign(talk[5]!, { content: 'edited late', editHistory: [{ content: talk[5]!.content, editedAt: later }], editedAt: later, updatedAt: later });
  Object.assign(talk[7]!, { reactions: [{ emoji: '👍', userId: bob._id, createdAt: later }], updatedAt: later });
  Object.assign(talk[9]!, { isDeleted: true, deletedAt: later, updatedAt: later });
  Object.assign(talk[11]!, { readBy: [{ userId: carol._id, readAt: later }], updatedAt: later });
  Object.assign(talk[30]!, { content: 'edited after the cursor', editHistory: [{ content: 'x', editedAt: later }], editedAt: later, updatedAt: later });

  const bytes = 'picture bytes';
  const picture = fileDoc(alice._id, 'c0ffee-upload', bytes, { mimeType: 'image/png', fileName: 'cat.png' });
  await db.collection('files').insertOne(picture);
  writeUpload(dataDir, picture.storedName, bytes);
  const hidden = Array.from({ length: 10 }, (_, i) => messageDoc(secret._id, i % 2 ? alice._id : carol._id, { _id: new ObjectId(start + 5000 + i), createdAt: at(90 + i) }));
  Object.assign(hidden[4]!, {
    messageType: 'image',
    fileAttachment: { fileId: picture._id, fileName: 'cat.png', fileSize: bytes.length, fileUrl: `/api/files/${picture._id.toHexString()}`, mimeType: 'image/png' },
  });
  await db.collection('messages').insertMany([...talk, ...hidden]);

  const member = (room: { _id: ObjectId }, user: { _id: ObjectId }, role: string, lastRead: { _id: ObjectId } | null) => ({
    ...membershipDoc(room._id, user._id),
    role,
    lastReadMessageId: lastRead?._id ?? null,
    lastReadAt: lastRead ? later : null,
  });
  await db.collection('memberships').insertMany([
    member(general, alice, 'owner', talk[39]!),
    member(general, bob, 'member', talk[10]!),
    member(general, carol, 'member', talk[20]!),
    member(secret, alice, 'owner', null),
    member(secret, carol, 'member', null),
    member(quiet, bob, 'owner', null),
  ]);

  const unreadAfter = (messages: typeof talk, from: number, reader: ObjectId) => messages.slice(from).filter((m) => !m.senderId.equals(reader) && !m.isDeleted).length;
  return {
    users: { alice, bob, carol },
    rooms: { general, secret, quiet },
    talk,
    hidden,
    since,
    picture,
    bytes,
    expectedUnread: { general: unreadAfter(talk, 21, carol._id), secret: unreadAfter(hidden, 0, carol._id) },
  };
}

type Seeded = Awaited<ReturnType<typeof seed>>;
const hex = (id: ObjectId) => id.toHexString();
/**
 * The documents of every collection but `names`. Indexes are left out: migration 0004 drops the
 * ones the embedded database never reads (tests/integration/index-layout.test.ts checks which).
 */
const without = (digest: Awaited<ReturnType<typeof databaseDigest>>, ...names: string[]) =>
  Object.fromEntries(Object.entries(digest).filter(([name]) => !names.includes(name)).map(([name, { count, hashes }]) => [name, { count, hashes }]));

/** Everything a member sees after the upgrade, checked against what was seeded. */
async function checkAnswers(server: ChatdServer, seeded: Seeded): Promise<void> {
  const api = apiClient(server.baseUrl);
  const { alice, bob, carol } = seeded.users;
  const carolToken = forgeToken(hex(carol._id));
  const general = hex(seeded.rooms.general._id);

  const newest = await api.get(`/api/messages?roomId=${general}&limit=50`, { token: carolToken });
  expect(newest.status).toBe(200);
  expect(newest.body.hasMore).toBe(false);
  expect(newest.body.messages.map((m: { _id: string }) => m._id)).toEqual(seeded.talk.map((m) => hex(m._id)).reverse());
  const byId = new Map(newest.body.messages.map((m: { _id: string }) => [m._id, m]));
  expect(byId.get(hex(seeded.talk[5]!._id))).toMatchObject({ content: 'edited late', editHistory: [{ content: expect.stringMatching(/^message /) }] });
  expect(byId.get(hex(seeded.talk[9]!._id))).toMatchObject({ isDeleted: true, content: null });
  expect(byId.get(hex(seeded.talk[7]!._id))).toMatchObject({ reactions: [{ emoji: '👍', userId: hex(bob._id) }] });

  const second = await api.get(`/api/messages?roomId=${general}&limit=15&page=2`, { token: carolToken });
  expect(second.body).toMatchObject({ page: 2, hasMore: true });
  expect(second.body.messages.map((m: { _id: string }) => m._id)).toEqual(seeded.talk.slice(10, 25).map((m) => hex(m._id)).reverse());
  const before = await api.get(`/api/messages?roomId=${general}&limit=5&before=${hex(seeded.talk[20]!._id)}`, { token: carolToken });
  expect(before.body.messages.map((m: { _id: string }) => m._id)).toEqual(seeded.talk.slice(15, 20).map((m) => hex(m._id)).reverse());

  const rooms = await api.get('/api/rooms?limit=10', { token: carolToken });
  const listed = new Map(rooms.body.rooms.map((room: { _id: string }) => [room._id, room]));
  expect(listed.get(general)).toMatchObject({ unreadCount: seeded.expectedUnread.general, lastMessage: { _id: hex(seeded.talk[39]!._id) } });
  expect(listed.get(hex(seeded.rooms.secret._id))).toMatchObject({ unreadCount: seeded.expectedUnread.secret, lastMessage: { _id: hex(seeded.hidden[9]!._id) } });
  const aliceRooms = await api.get('/api/rooms?limit=10', { token: forgeToken(hex(alice._id)) });
  expect(aliceRooms.body.rooms.find((room: { _id: string }) => room._id === general).unreadCount).toBe(0);

  const hub = await HubClient.connect(server.wsUrl, { token: carolToken });
  try {
    const resumed = await joinRoom(hub, general, hex(seeded.since._id));
    expect(resumed.data.messages.map((m: { _id: string }) => m._id)).toEqual(seeded.talk.slice(26).map((m) => hex(m._id)));
    expect(resumed.data.messages.find((m: { _id: string }) => m._id === hex(seeded.talk[30]!._id)).content).toBe('edited after the cursor');
    const updated = new Set(resumed.data.updated.map((m: { _id: string }) => m._id));
    for (const i of [5, 7, 9, 11]) expect(updated.has(hex(seeded.talk[i]!._id))).toBe(true);
    expect(updated.has(hex(seeded.talk[3]!._id))).toBe(false);
    expect(resumed.data).toMatchObject({ hasMore: false, updatesTruncated: false });
    const latest = await joinRoom(hub, general);
    expect(latest.data.messages.map((m: { _id: string }) => m._id)).toEqual(seeded.talk.map((m) => hex(m._id)).slice(-40));
  } finally {
    await hub.close();
  }

  const file = await fetch(`${server.baseUrl}/api/files/${hex(seeded.picture._id)}`, { headers: { Authorization: `Bearer ${carolToken}` } });
  expect(file.status).toBe(200);
  expect(await file.text()).toBe(seeded.bytes);
  const outsider = await api.get(`/api/files/${hex(seeded.picture._id)}`, { token: forgeToken(hex(bob._id)) });
  expect(outsider.status).toBe(404);
}

const logged = (server: ChatdServer, message: string) => server.logs.some((line) => line.includes(message));

describe('upgrading a database at migration 0001', { timeout: 180_000 }, () => {
  it('chatd migrate applies 0002 once, keeps every document, and serve answers history, unread counts, resume and files', async () => {
    const { uri, db } = await databaseAtMigrationOne('upgrade_cli');
    const dataDir = tempDir('upgrade-cli');
    const seeded = await seed(db, dataDir);
    const before = await databaseDigest(db);
    const env = await cliEnv(dataDir, uri);

    const status = await runChatd(['migrate', 'status'], { cwd: dataDir, env });
    expect(status.stdout).toMatch(/0001-initial\s+applied/);
    expect(status.stdout).toMatch(/0002-message-index\s+pending/);
    const applied = await runChatd(['migrate'], { cwd: dataDir, env });
    expect(applied.code, applied.stderr).toBe(0);
    expect(applied.stdout).toMatch(/applied 3 migration\(s\): 0002-message-index, 0003-relative-avatars, 0004-indexes-per-engine/);
    const after = await databaseDigest(db);
    expect(without(after, 'migrations')).toEqual(without(before, 'migrations'));
    expect(after.migrations!.count).toBe(4);
    expect(await db.collection('message_index').findOne({ _id: 'state' as never })).toMatchObject({ clean: true, messages: 50 });
    const again = await runChatd(['migrate'], { cwd: dataDir, env });
    expect(again.stdout).toMatch(/nothing to apply/);

    const server = await startChatd({ dataDir, mongoUri: uri });
    try {
      await checkAnswers(server, seeded);
      // The index the migration built is the one serve uses: nothing is read twice.
      expect(logged(server, 'loaded the message index')).toBe(true);
      expect(logged(server, 'rebuilding the message index')).toBe(false);
    } finally {
      expect(await server.stop()).toBe(0);
    }
    expect(without(await databaseDigest(db), 'migrations', 'users')).toEqual(without(before, 'migrations', 'users'));
  });

  it('chatd serve applies 0002 at start, and recovers from a migration interrupted half-way', async () => {
    const { uri, db } = await databaseAtMigrationOne('upgrade_serve');
    const dataDir = tempDir('upgrade-serve');
    const seeded = await seed(db, dataDir);
    const before = await databaseDigest(db);
    // A first attempt died while saving: the state says incomplete, one room's documents are there, half-written.
    await db.collection('message_index').insertMany([
      { _id: 'state' as never, format: 1, clean: false },
      { _id: `room:${hex(seeded.rooms.general._id)}` as never, roomId: seeded.rooms.general._id, count: 3, chunks: 1 },
    ]);

    const server = await startChatd({ dataDir, mongoUri: uri });
    try {
      expect(logged(server, 'applying migration 0002-message-index')).toBe(true);
      await checkAnswers(server, seeded);
      expect(logged(server, 'rebuilding the message index')).toBe(false);
    } finally {
      expect(await server.stop()).toBe(0);
    }
    expect(without(await databaseDigest(db), 'migrations', 'users')).toEqual(without(before, 'migrations', 'users'));
    expect((await db.collection('migrations').find().toArray()).map((record) => record._id)).toEqual(['0001-initial', '0002-message-index', '0003-relative-avatars', '0004-indexes-per-engine']);
    // The uploads were never touched.
    expect(readFileSync(join(dataDir, 'uploads', seeded.picture.storedName), 'utf8')).toBe(seeded.bytes);
  });
});
