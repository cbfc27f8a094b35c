import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ObjectId, type Db } from 'mongodb';
import { describe, expect, it } from 'vitest';
import { verifyArchive } from '../../src/ops/backup/verify.js';
import { login, register, uniqueAccount, type RegisteredAccount } from '../support/accounts.js';
import { apiClient, type ApiClient } from '../support/api.js';
import { connectTestDb, runChatd, startChatd, testDatabaseUri } from '../support/chatd.js';
import { HubClient } from '../support/hub-client.js';
import { send } from '../support/messaging.js';
import { cliEnv, connectEmbedded, messageDoc } from '../support/ops.js';

const tempDir = (label: string) => mkdtempSync(join(tmpdir(), `chatd-${label}-`));
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const SERVER_ENV = { BCRYPT_COST: '10', RATE_LIMIT_REGISTER: '100000/15m', RATE_LIMIT_LOGIN: '100000/15m' };

interface Ack {
  id: string;
  /** When the sender had the acknowledgement (message_sent or 201) in hand. */
  at: number;
}

/** Where a message can go: a sender and a room it is a member of, over REST or its hub connection. */
type Route = { token: string; roomId: string; hub?: HubClient };

async function createRoom(api: ApiClient, token: string, name: string): Promise<string> {
  const created = await api.post('/api/rooms', { name, type: 'public' }, { token });
  if (created.status !== 201) throw new Error(`room creation failed: ${JSON.stringify(created.body)}`);
  return created.body.room._id as string;
}

async function joinRoom(api: ApiClient, token: string, roomId: string): Promise<void> {
  const joined = await api.post(`/api/rooms/${roomId}/join`, undefined, { token });
  if (joined.status !== 200) throw new Error(`join failed: ${JSON.stringify(joined.body)}`);
}

async function sendRoute(api: ApiClient, route: Route, content: string, clientMsgId: string): Promise<Ack> {
  if (route.hub) {
    const message = await send(route.hub, route.roomId, content, { clientMsgId });
    return { id: message._id as string, at: Date.now() };
  }
  const posted = await api.post('/api/messages', { roomId: route.roomId, content, clientMsgId }, { token: route.token });
  if (posted.status !== 201) throw new Error(`POST /api/messages answered ${posted.status}: ${JSON.stringify(posted.body)}`);
  return { id: posted.body.message._id as string, at: Date.now() };
}

/**
 * People chatting through chatd at 50 messages a second: a send starts every 20 ms whatever the
 * server's latency, alternating between hub connections and REST. Every half second someone new
 * registers, creates a room, is joined in it by an existing member and joins an older room; from
 * then on they send too.
 */
function startChatting(api: ApiClient, hubRoutes: Route[], restRoutes: Route[], oldRooms: string[], members: RegisteredAccount[]) {
  const acks: Ack[] = [];
  const arrivals: { at: number; rooms: string[] }[] = [];
  const failures: unknown[] = [];
  const pending = new Set<Promise<void>>();
  let tick = 0;
  const arrive = async (n: number) => {
    const newcomer = await register(api, uniqueAccount('live'));
    const roomId = await createRoom(api, newcomer.accessToken, `live room ${n}`);
    const host = members[n % members.length]!;
    await joinRoom(api, host.accessToken, roomId);
    const older = oldRooms[n % oldRooms.length]!;
    await joinRoom(api, newcomer.accessToken, older);
    restRoutes.push({ token: newcomer.accessToken, roomId }, { token: newcomer.accessToken, roomId: older }, { token: host.accessToken, roomId });
    arrivals.push({ at: Date.now(), rooms: [roomId] });
  };
  const step = async (n: number) => {
    if (n % 25 === 0) await arrive(n);
    const route = n % 2 === 0 ? hubRoutes[(n / 2) % hubRoutes.length]! : restRoutes[Math.floor(n / 2) % restRoutes.length]!;
    acks.push(await sendRoute(api, route, `live ${n} ${'x'.repeat(120)}`, `live-${n}`));
  };
  const timer = setInterval(() => {
    const running = step(tick++).catch((error: unknown) => void failures.push(error));
    pending.add(running);
    void running.finally(() => pending.delete(running));
  }, 20);
  return {
    acks,
    arrivals,
    failures,
    async stop() {
      clearInterval(timer);
      await Promise.all(pending);
    },
  };
}

async function idSet(db: Db, collection: string): Promise<Set<string>> {
  const found = new Set<string>();
  for await (const document of db.collection(collection).find({}, { projection: { _id: 1 } })) found.add(String(document._id));
  return found;
}

describe('a backup taken while people chat', { timeout: 300_000 }, () => {
  it('restores to a consistent state holding every message acknowledged before its snapshot', async () => {
    const dataDir = tempDir('concurrent');
    const server = await startChatd({ embedded: true, dataDir, env: SERVER_ENV });
    const api = apiClient(server.baseUrl);
    const archive = join(dataDir, 'during-chat.tar.gz');
    const hubs: HubClient[] = [];
    const history: Ack[] = [];
    let chat: ReturnType<typeof startChatting> | undefined;
    let started = 0;
    let finished = 0;
    let liveIds: string[] = [];
    const first = uniqueAccount('first');
    try {
      const members = [await register(api, first)];
      for (let i = 1; i < 8; i++) members.push(await register(api, uniqueAccount('member')));
      const rooms: string[] = [];
      for (const owner of members.slice(0, 4)) rooms.push(await createRoom(api, owner.accessToken, `room of ${owner.username}`));
      // Joining is idempotent: the owners' own rooms answer joined: false.
      for (const member of members) for (const roomId of rooms) await joinRoom(api, member.accessToken, roomId);

      const hubRoutes: Route[] = [];
      for (const member of members.slice(0, 4)) {
        const hub = await HubClient.connect(server.wsUrl, { token: member.accessToken });
        hubs.push(hub);
        for (const roomId of rooms) hubRoutes.push({ token: member.accessToken, roomId, hub });
      }
      const restRoutes: Route[] = members.slice(4).flatMap((member) => rooms.map((roomId) => ({ token: member.accessToken, roomId })));

      // A history to read, written as fast as chatd takes it.
      for (let burst = 0; burst < 60; burst++) {
        history.push(...(await Promise.all(Array.from({ length: 25 }, (_, i) => {
          const n = burst * 25 + i;
          return sendRoute(api, restRoutes[n % restRoutes.length]!, `history ${n} ${'y'.repeat(200)}`, `history-${n}`);
        }))));
      }

      chat = startChatting(api, hubRoutes, restRoutes, rooms, members);
      await sleep(500);
      started = Date.now();
      const backup = await runChatd(['backup', '--out', archive], { cwd: dataDir, env: await cliEnv(dataDir), timeoutMs: 180_000 });
      finished = Date.now();
      await sleep(500);
      await chat.stop();
      expect(backup.code, backup.stderr).toBe(0);
      expect(chat.failures).toEqual([]);

      const { client, db } = await connectEmbedded(dataDir);
      try {
        liveIds = [...(await idSet(db, 'messages'))];
      } finally {
        await client.close();
      }
    } finally {
      await chat?.stop();
      await Promise.all(hubs.map((hub) => hub.close()));
      expect(await server.stop()).toBe(0);
    }

    // The chat kept going while the backup ran: messages and newcomers with rooms.
    const during = chat.acks.filter((ack) => ack.at >= started && ack.at <= finished);
    expect(during.length).toBeGreaterThan(10);
    expect(chat.arrivals.filter((arrival) => arrival.at >= started && arrival.at <= finished).length).toBeGreaterThan(0);

    const { manifest } = await verifyArchive(archive);
    const snapshotAt = Date.parse(manifest.snapshotAt);
    expect(snapshotAt).toBeGreaterThanOrEqual(started);
    expect(snapshotAt).toBeLessThanOrEqual(finished);
    const acknowledgedBefore = [...history, ...chat.acks].filter((ack) => ack.at < snapshotAt);
    // Some of them were acknowledged after the backup command started: the race this test is about.
    expect(acknowledgedBefore.filter((ack) => ack.at >= started).length).toBeGreaterThan(0);

    const targetDir = tempDir('concurrent-restored');
    const restore = await runChatd(['restore', archive], { cwd: targetDir, env: await cliEnv(targetDir), timeoutMs: 180_000 });
    expect(restore.code, restore.stderr).toBe(0);

    const restored = await startChatd({ embedded: true, dataDir: targetDir, env: SERVER_ENV });
    try {
      const roomsWithMessages = new Set<string>();
      const { client, db } = await connectEmbedded(targetDir);
      try {
        const users = await idSet(db, 'users');
        const rooms = await idSet(db, 'rooms');
        const messages = new Set<string>();
        const orphans: string[] = [];
        for await (const message of db.collection('messages').find({}, { projection: { roomId: 1, senderId: 1 } })) {
          messages.add(String(message._id));
          roomsWithMessages.add(String(message.roomId));
          if (!rooms.has(String(message.roomId)) || !users.has(String(message.senderId))) orphans.push(`message ${String(message._id)}`);
        }
        for await (const membership of db.collection('memberships').find({}, { projection: { roomId: 1, userId: 1 } })) {
          if (!rooms.has(String(membership.roomId)) || !users.has(String(membership.userId))) orphans.push(`membership ${String(membership._id)}`);
        }
        expect(orphans).toEqual([]);
        expect(acknowledgedBefore.filter((ack) => !messages.has(ack.id)).map((ack) => ack.id)).toEqual([]);
        // Messages are stored in id order, so the archive holds every stored message up to its newest one and none after.
        const newest = [...messages].sort().at(-1)!;
        expect([...messages].sort()).toEqual(liveIds.filter((id) => id <= newest).sort());
        expect(messages.size).toBeLessThan(liveIds.length);
      } finally {
        await client.close();
      }
      // The restored chat works: an account from before logs in and reads its room.
      const restoredApi = apiClient(restored.baseUrl);
      const session = await login(restoredApi, first.email, first.password);
      const rooms = await restoredApi.get('/api/rooms', { token: session.accessToken });
      expect(rooms.body.rooms.length).toBeGreaterThanOrEqual(4);
      // Not simply the first room: rooms are read after messages, so the most recently active one may
      // have got its first message after the messages were read.
      const withHistory = (rooms.body.rooms as { _id: string }[]).find((room) => roomsWithMessages.has(room._id));
      expect(withHistory).toBeDefined();
      const page = await restoredApi.get(`/api/messages?roomId=${withHistory!._id}`, { token: session.accessToken });
      expect(page.status, JSON.stringify(page.body)).toBe(200);
      expect(page.body.messages.length).toBeGreaterThan(0);
    } finally {
      expect(await restored.stop()).toBe(0);
    }
  });

  it('keeps acknowledged messages whose ids run ahead of the clock (a database from a box whose clock was fast)', async () => {
    const uri = testDatabaseUri('bk_ahead');
    const dir = tempDir('ahead');
    const first = await startChatd({ mongoUri: uri, env: SERVER_ENV });
    let account: RegisteredAccount;
    let roomId: string;
    try {
      const api = apiClient(first.baseUrl);
      account = await register(api, uniqueAccount('ahead'));
      roomId = await createRoom(api, account.accessToken, 'clock skew');
    } finally {
      expect(await first.stop()).toBe(0);
    }
    // The newest message was written by a box whose clock ran 30 s ahead of this one.
    const { client, db } = await connectTestDb(uri);
    const ahead = ObjectId.createFromTime(Math.floor(Date.now() / 1000) + 30);
    try {
      await db.collection('messages').insertOne(messageDoc(new ObjectId(roomId), new ObjectId(account.id), { _id: ahead }));
    } finally {
      await client.close();
    }

    const server = await startChatd({ mongoUri: uri, env: SERVER_ENV });
    const acks: Ack[] = [];
    try {
      const api = apiClient(server.baseUrl);
      for (let i = 0; i < 5; i++) acks.push(await sendRoute(api, { token: account.accessToken, roomId }, `after the move ${i}`, `ahead-${i}`));
    } finally {
      expect(await server.stop()).toBe(0);
    }
    // Ids only grow, so these carry the future second too.
    expect(acks.every((ack) => ack.id > ahead.toHexString())).toBe(true);

    const archive = join(dir, 'ahead.tar.gz');
    const backup = await runChatd(['backup', '--out', archive], { cwd: dir, env: await cliEnv(dir, uri), timeoutMs: 120_000 });
    expect(backup.code, backup.stderr).toBe(0);
    const { manifest } = await verifyArchive(archive);
    expect(acks.every((ack) => ack.at < Date.parse(manifest.snapshotAt))).toBe(true);

    const targetUri = testDatabaseUri('bk_ahead_restored');
    const restore = await runChatd(['restore', archive], { cwd: tempDir('ahead-restored'), env: await cliEnv(dir, targetUri), timeoutMs: 120_000 });
    expect(restore.code, restore.stderr).toBe(0);
    const target = await connectTestDb(targetUri);
    try {
      const found = await target.db.collection('messages').find({ _id: { $in: [ahead, ...acks.map((ack) => new ObjectId(ack.id))] } }, { projection: { _id: 1 } }).toArray();
      expect(found).toHaveLength(6);
    } finally {
      await target.client.close();
    }
  });
});
