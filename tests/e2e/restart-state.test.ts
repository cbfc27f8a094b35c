import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ObjectId } from 'mongodb';
import { afterAll, describe, expect, it } from 'vitest';
import { apiClient, type ApiClient } from '../support/api.js';
import { startChatd, type ChatdServer } from '../support/chatd.js';
import { createUser } from '../support/factories.js';
import { HubClient } from '../support/hub-client.js';
import { join as joinRoom, send } from '../support/messaging.js';
import { connectEmbedded } from '../support/ops.js';

// What chatd keeps in memory rather than asks or writes each time: every membership (read once at
// start-up), who is online (never written when they connect), and each room's latest message time
// (written at most every 30 s). Clients must not be able to tell.

const dataDir = mkdtempSync(join(tmpdir(), 'chatd-restart-state-'));
let server: ChatdServer | undefined;

afterAll(async () => {
  await server?.stop();
});

const start = async () => {
  server = await startChatd({ embedded: true, dataDir, env: { WS_EVENTS_PER_SECOND: '500', WS_USER_EVENTS_PER_SECOND: '500' } });
  return apiClient(server.baseUrl);
};

async function stored(collection: 'users' | 'rooms', id: string) {
  const { client, db } = await connectEmbedded(dataDir);
  try {
    return (await db.collection(collection).findOne({ _id: new ObjectId(id) }))!;
  } finally {
    await client.close();
  }
}

const roomOrder = async (api: ApiClient, token: string) => ((await api.get('/api/rooms', { token })).body.rooms as { _id: string }[]).map((room) => room._id);

describe('state chatd keeps in memory, across a restart on the embedded database', { timeout: 240_000 }, () => {
  it('knows every room and member after a restart, and the rooms made since', async () => {
    let api = await start();
    const { client, db } = await connectEmbedded(dataDir);
    const [alice, bob, carol] = await Promise.all([createUser(db), createUser(db), createUser(db)]);
    await client.close();
    const family = (await api.post('/api/rooms', { name: 'family', type: 'private' }, { token: alice.token })).body.room._id as string;
    expect((await api.post(`/api/rooms/${family}/members`, { userId: bob.id }, { token: alice.token })).status).toBe(201);
    // A direct room whose other side then blocked: still refused after the restart, until unblocked.
    const blockedRoom = (await api.post('/api/rooms/direct', { userId: bob.id }, { token: alice.token })).body.room._id as string;
    expect((await api.post(`/api/auth/block/${alice.id}`, {}, { token: bob.token })).status).toBe(200);
    expect(await server!.stop()).toBe(0);

    api = await start();
    await expect.poll(() => server!.logs.some((line) => line.includes('"memberships cached"') && line.includes('"loaded":true')), { timeout: 5000 }).toBe(true);
    const b = await HubClient.connect(server!.wsUrl, { token: bob.token });
    const c = await HubClient.connect(server!.wsUrl, { token: carol.token });
    const aliceOnline = b.next('user_status_changed', (d) => d.userId === alice.id && d.status === 'online');
    const a = await HubClient.connect(server!.wsUrl, { token: alice.token });
    await aliceOnline;
    await c.settle(200);
    expect(c.received('user_status_changed').filter((f) => f.data.userId === alice.id)).toHaveLength(0);

    await joinRoom(a, family);
    await joinRoom(b, family);
    const heard = b.next('new_message', (d) => d.message.content === 'after the restart');
    const latest = await send(a, family, 'after the restart');
    await heard;
    // Receipts move the read marker of a membership known from start-up (addressed by its _id).
    expect((await b.request('mark_message_read', latest._id)).event).toBe('message_read');
    const marker = async () => {
      const { client: reader, db: readerDb } = await connectEmbedded(dataDir);
      try {
        return (await readerDb.collection('memberships').findOne({ roomId: new ObjectId(family), userId: new ObjectId(bob.id) }))!.lastReadMessageId?.toHexString();
      } finally {
        await reader.close();
      }
    };
    expect(await marker()).toBe(latest._id);
    await expect.poll(() => server!.logs.some((line) => line.includes('"block lists cached"')), { timeout: 5000 }).toBe(true);
    await joinRoom(a, blockedRoom);
    expect((await a.request('send_message', { roomId: blockedRoom, content: 'hello?' })).data.code).toBe('FORBIDDEN');
    expect((await api.delete(`/api/auth/block/${alice.id}`, undefined, { token: bob.token })).status).toBe(200);
    await send(a, blockedRoom, 'hello again');
    expect((await api.post(`/api/auth/block/${bob.id}`, {}, { token: alice.token })).status).toBe(200);
    expect((await a.request('send_message', { roomId: blockedRoom, content: 'bye' })).data.code).toBe('FORBIDDEN');
    expect((await c.request('join_room', { roomId: family })).data.code).toBe('FORBIDDEN');
    expect((await c.request('send_message', { roomId: family, content: 'let me in' })).data.code).toBe('FORBIDDEN');

    // A room and a direct room made after start-up, and a member who leaves.
    const club = (await api.post('/api/rooms', { name: 'club', type: 'private' }, { token: alice.token })).body.room._id as string;
    expect((await api.post(`/api/rooms/${club}/members`, { userId: carol.id }, { token: alice.token })).status).toBe(201);
    await joinRoom(c, club);
    const direct = await api.post('/api/rooms/direct', { userId: carol.id }, { token: alice.token });
    expect(direct.status).toBe(201);
    await joinRoom(c, direct.body.room._id);
    await joinRoom(a, club);
    await joinRoom(a, direct.body.room._id);
    const inClub = c.next('new_message', (d) => d.message.content === 'welcome');
    const inDirect = c.next('new_message', (d) => d.message.content === 'just us');
    await send(a, club, 'welcome');
    await send(a, direct.body.room._id, 'just us');
    await inClub;
    await inDirect;
    expect((await api.post(`/api/rooms/${family}/leave`, {}, { token: bob.token })).status).toBe(200);
    expect((await b.request('send_message', { roomId: family, content: 'gone' })).data.code).toBe('FORBIDDEN');

    // Carol now shares rooms with alice: she hears alice go offline.
    const aliceOffline = c.next('user_status_changed', (d) => d.userId === alice.id && d.status === 'offline');
    await a.close();
    expect((await aliceOffline).data.lastSeen).toBeTruthy();
    await Promise.all([b.close(), c.close()]);
  });

  it('shows who is online over REST without storing it, and stores going offline', async () => {
    const api = server ? apiClient(server.baseUrl) : await start();
    const { client, db } = await connectEmbedded(dataDir);
    const [alice, bob] = await Promise.all([createUser(db), createUser(db)]);
    await client.close();
    const before = await stored('users', alice.id);
    const a = await HubClient.connect(server!.wsUrl, { token: alice.token });
    await a.request('join_room', { roomId: new ObjectId().toHexString() });
    expect((await api.get(`/api/users/${alice.id}`, { token: bob.token })).body.user.status).toBe('online');
    expect((await api.get('/api/auth/me', { token: alice.token })).body.user.status).toBe('online');
    expect((await stored('users', alice.id)).status).toBe('offline');

    expect((await a.request('set_status', { status: 'away', customStatus: 'walking the dog' })).event).toBe('status_updated');
    expect((await api.get(`/api/users/${alice.id}`, { token: bob.token })).body.user).toMatchObject({ status: 'away', customStatus: 'walking the dog' });
    expect(await stored('users', alice.id)).toMatchObject({ status: 'away', customStatus: 'walking the dog' });

    await a.close();
    await expect.poll(async () => (await stored('users', alice.id)).status, { timeout: 5000 }).toBe('offline');
    const after = (await api.get(`/api/users/${alice.id}`, { token: bob.token })).body.user;
    expect(after.status).toBe('offline');
    expect(new Date(after.lastSeen).getTime()).toBeGreaterThan(new Date(before.lastSeen).getTime());
  });

  it('orders room lists by the latest message at once, and keeps that order after a restart', async () => {
    let api = server ? apiClient(server.baseUrl) : await start();
    const { client, db } = await connectEmbedded(dataDir);
    const [alice] = await Promise.all([createUser(db)]);
    await client.close();
    const first = (await api.post('/api/rooms', { name: 'first', type: 'private' }, { token: alice.token })).body.room._id as string;
    const second = (await api.post('/api/rooms', { name: 'second', type: 'private' }, { token: alice.token })).body.room._id as string;
    const a = await HubClient.connect(server!.wsUrl, { token: alice.token });
    await joinRoom(a, first);
    await joinRoom(a, second);
    await send(a, first, 'one');
    await send(a, second, 'two');
    expect(await roomOrder(api, alice.token)).toEqual([second, first]);
    // Both rooms' activity is stored within a second; after that, each room is rewritten at most
    // every 30 s, so the next message moves `first` up in memory only.
    await expect.poll(async () => (await stored('rooms', second)).lastMessageAt.getTime(), { timeout: 5000 }).toBeGreaterThan((await stored('rooms', first)).createdAt.getTime());
    const three = await send(a, first, 'three');
    expect(await roomOrder(api, alice.token)).toEqual([first, second]);
    const listed = (await api.get(`/api/rooms/${first}`, { token: alice.token })).body.room;
    expect(new Date(listed.lastMessageAt).getTime()).toBeGreaterThanOrEqual(new Date(three.createdAt).getTime() - 1);
    await a.close();

    // A clean stop writes what was only in memory.
    expect(await server!.stop()).toBe(0);
    api = await start();
    expect((await stored('rooms', first)).lastMessageAt.getTime()).toBeGreaterThan((await stored('rooms', second)).lastMessageAt.getTime());
    expect(await roomOrder(api, alice.token)).toEqual([first, second]);
  });
});
