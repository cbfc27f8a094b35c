import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Db, ObjectId } from 'mongodb';
import { describe, expect, it } from 'vitest';
import { connectTestDb, runChatd, startChatd, testDatabaseUri } from '../support/chatd.js';
import { cliEnv, connectEmbedded, membershipDoc, messageDoc, roomDoc, userDoc } from '../support/ops.js';

const tempDir = (label: string) => mkdtempSync(join(tmpdir(), `chatd-${label}-`));
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Writes 50 messages a second, the way the messaging service will: every tenth one comes from a
 * user who has just registered, into a room that was just created and joined. Each write starts on
 * its own 20 ms tick, whatever the database's latency, and a message only names a user and a room
 * whose inserts have completed. The messaging API is not built yet, so it writes the documents
 * directly.
 */
function startWriter(db: Db, users: ObjectId[], rooms: ObjectId[]) {
  const writes: { at: number; kind: 'message' | 'user' }[] = [];
  const pending = new Set<Promise<void>>();
  const failures: unknown[] = [];
  let tick = 0;
  const write = async (n: number) => {
    if (n % 10 === 0) {
      const user = userDoc();
      await db.collection('users').insertOne(user);
      const room = roomDoc(user._id);
      await db.collection('rooms').insertOne(room);
      await db.collection('memberships').insertOne(membershipDoc(room._id, user._id));
      users.push(user._id);
      rooms.push(room._id);
      writes.push({ at: Date.now(), kind: 'user' });
    }
    const sender = users[users.length - 1 - (n % 3)]!;
    const room = rooms[rooms.length - 1 - (n % 2)]!;
    await db.collection('messages').insertOne(messageDoc(room, sender, { content: `live ${n} ${'x'.repeat(200)}` }));
    writes.push({ at: Date.now(), kind: 'message' });
  };
  const timer = setInterval(() => {
    const running = write(tick++).catch((error: unknown) => void failures.push(error));
    pending.add(running);
    void running.finally(() => pending.delete(running));
  }, 20);
  return {
    writes,
    failures,
    async stop() {
      clearInterval(timer);
      await Promise.all(pending);
    },
  };
}

async function ids(db: Db, collection: string, field = '_id'): Promise<Set<string>> {
  const found = new Set<string>();
  for await (const document of db.collection(collection).find({}, { projection: { [field]: 1 } })) found.add(String(document[field]));
  return found;
}

describe('a backup taken while messages are written', { timeout: 300_000 }, () => {
  it('restores to a consistent state: every message has its room and sender, every membership its room and user', async () => {
    const dataDir = tempDir('concurrent');
    const server = await startChatd({ embedded: true, dataDir });
    const archive = join(dataDir, 'during-writes.tar.gz');
    let seeded = 0;
    let liveMessages = 0;
    let writtenDuringBackup = 0;
    try {
      const { client, db } = await connectEmbedded(dataDir);
      try {
        const users = Array.from({ length: 40 }, () => userDoc());
        await db.collection('users').insertMany(users);
        const rooms = users.slice(0, 12).map((user) => roomDoc(user._id));
        await db.collection('rooms').insertMany(rooms);
        await db.collection('memberships').insertMany(rooms.flatMap((room) => users.map((user) => membershipDoc(room._id, user._id))));
        for (let batch = 0; batch < 8; batch++) {
          await db.collection('messages').insertMany(
            Array.from({ length: 1000 }, (_, i) => messageDoc(rooms[i % rooms.length]!._id, users[(i * 7) % users.length]!._id, { content: `history ${batch}-${i} ${'y'.repeat(300)}` })),
          );
        }
        seeded = await db.collection('messages').countDocuments();

        const writer = startWriter(db, users.map((user) => user._id), rooms.map((room) => room._id));
        await sleep(300);
        const started = Date.now();
        const backup = await runChatd(['backup', '--out', archive], { cwd: dataDir, env: await cliEnv(dataDir), timeoutMs: 180_000 });
        const finished = Date.now();
        await sleep(300);
        await writer.stop();
        expect(backup.code, backup.stderr).toBe(0);
        expect(writer.failures).toEqual([]);
        writtenDuringBackup = writer.writes.filter((write) => write.at >= started && write.at <= finished).length;
        // The writer kept its pace while the backup read the database.
        expect(writer.writes.filter((write) => write.at >= started && write.at <= finished && write.kind === 'user').length).toBeGreaterThan(0);
        liveMessages = await db.collection('messages').countDocuments();
      } finally {
        await client.close();
      }
    } finally {
      expect(await server.stop()).toBe(0);
    }
    expect(writtenDuringBackup).toBeGreaterThan(10);

    const targetUri = testDatabaseUri('concurrent');
    const targetDir = tempDir('concurrent-restored');
    const restore = await runChatd(['restore', archive], { cwd: targetDir, env: await cliEnv(targetDir, targetUri), timeoutMs: 180_000 });
    expect(restore.code, restore.stderr).toBe(0);

    const { client, db } = await connectTestDb(targetUri);
    try {
      const users = await ids(db, 'users');
      const rooms = await ids(db, 'rooms');
      let messages = 0;
      const orphans: string[] = [];
      for await (const message of db.collection('messages').find({}, { projection: { roomId: 1, senderId: 1 } })) {
        messages += 1;
        if (!rooms.has(String(message.roomId)) || !users.has(String(message.senderId))) orphans.push(String(message._id));
      }
      expect(orphans).toEqual([]);
      for await (const membership of db.collection('memberships').find({}, { projection: { roomId: 1, userId: 1 } })) {
        expect(rooms.has(String(membership.roomId)) && users.has(String(membership.userId))).toBe(true);
      }
      expect(messages).toBeGreaterThan(seeded);
      expect(messages).toBeLessThan(liveMessages);
    } finally {
      await client.close();
    }
  });
});
