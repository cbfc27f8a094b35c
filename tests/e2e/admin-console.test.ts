import { gunzipSync } from 'node:zlib';
import { ObjectId, type Db, type MongoClient } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectError, register } from '../support/accounts.js';
import { apiClient, type ApiClient } from '../support/api.js';
import { connectTestDb, startChatd, type ChatdServer } from '../support/chatd.js';
import { expectNoChange } from '../support/db-snapshot.js';
import { createUser } from '../support/factories.js';
import { HubClient } from '../support/hub-client.js';
import { createRoom } from '../support/rooms.js';
import { until } from '../support/wait.js';

// The admin console's server side (health, backups, password resets, room retention) and the
// profile and settings pages' (notification preferences, avatar pictures, live profile changes).

let server: ChatdServer;
let api: ApiClient;
let client: MongoClient;
let db: Db;
let admin: Awaited<ReturnType<typeof createUser>>;
let member: Awaited<ReturnType<typeof createUser>>;

beforeAll(async () => {
  server = await startChatd({ env: { BCRYPT_COST: '10', RATE_LIMIT_LOGIN: '1000/15m', RATE_LIMIT_REGISTER: '1000/15m', RETENTION_DAYS: '90' } });
  api = apiClient(server.baseUrl);
  ({ client, db } = await connectTestDb(server.mongoUri!));
  admin = await createUser(db, { role: 'admin' });
  member = await createUser(db);
});
afterAll(async () => {
  await client?.close();
  await server?.stop();
});

const asAdmin = () => ({ token: admin.token });
const asMember = () => ({ token: member.token });

/** A 1×1 PNG. */
const png = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==', 'base64');

function upload(bytes: Buffer, name: string, type: string): FormData {
  const form = new FormData();
  form.append('file', new Blob([new Uint8Array(bytes)], { type }), name);
  return form;
}

describe('the admin API answers administrators only', () => {
  it('refuses everyone else with 401 or 403 and changes nothing', async () => {
    const routes: [string, string, unknown?][] = [
      ['GET', '/api/admin/health'],
      ['GET', '/api/admin/backups'],
      ['POST', '/api/admin/backups'],
      ['GET', '/api/admin/backups/chatd-2026-01-01T00-00-00-000Z.tar.gz'],
      ['POST', `/api/admin/users/${member.id}/password`],
      ['GET', '/api/admin/rooms'],
      ['PATCH', `/api/admin/rooms/${new ObjectId().toHexString()}`, { retentionDays: 1 }],
    ];
    await expectNoChange(db, async () => {
      for (const [method, path, body] of routes) {
        expectError(await api.call(method, path, body), 401, 'UNAUTHORIZED');
        expectError(await api.call(method, path, body, asMember()), 403, 'FORBIDDEN');
      }
    });
    expect((await api.get('/api/admin/backups', asAdmin())).body.backups).toEqual([]);
  });
});

describe('GET /api/admin/health', () => {
  it('reports version, database kind and readiness, uptime and the connected clients', async () => {
    const before = (await api.get('/api/admin/health', asAdmin())).body.health;
    const first = await HubClient.authenticated(server.wsUrl, member.token);
    const second = await HubClient.authenticated(server.wsUrl, member.token);
    const response = await api.get('/api/admin/health', asAdmin());
    expect(response.status).toBe(200);
    expect(response.headers.get('cache-control')).toBe('no-store');
    const health = response.body.health;
    expect(health).toMatchObject({
      version: expect.stringMatching(/^\d+\.\d+\.\d+/),
      node: process.version,
      uptimeSeconds: expect.any(Number),
      database: { kind: 'mongodb', engine: expect.stringMatching(/^(mongodb|ferretdb)$/), ready: true, latencyMs: expect.any(Number) },
      activeCalls: 0,
    });
    expect(health.clients.connections).toBe(before.clients.connections + 2);
    expect(health.clients.users).toBe(before.clients.users + 1);
    await first.close();
    await second.close();
    await until('the closed connections are no longer counted', async () => (await api.get('/api/admin/health', asAdmin())).body.health.clients.connections === before.clients.connections);
  });
});

describe('/api/admin/backups', () => {
  it('starts a backup, shows it running then written, and downloads the archive', async () => {
    const started = await api.post('/api/admin/backups', undefined, asAdmin());
    expect(started.status).toBe(202);
    expect(started.body.current).toMatchObject({ state: 'running', startedAt: expect.any(String) });

    let listing: any;
    await until('the backup ended', async () => {
      listing = (await api.get('/api/admin/backups', asAdmin())).body;
      return listing.current.state !== 'running';
    });
    expect(listing.current).toMatchObject({ state: 'done', name: expect.stringMatching(/^chatd-.+\.tar\.gz$/), size: expect.any(Number) });
    const name: string = listing.current.name;
    expect(listing.backups).toEqual([{ name, size: listing.current.size, createdAt: expect.any(String) }]);
    expect(listing.lastSuccess).toMatchObject({ ok: true, trigger: 'manual' });

    const download = await fetch(`${server.baseUrl}/api/admin/backups/${name}`, { headers: { Authorization: `Bearer ${admin.token}` } });
    expect(download.status).toBe(200);
    expect(download.headers.get('content-disposition')).toBe(`attachment; filename="${name}"`);
    expect(download.headers.get('cache-control')).toBe('no-store');
    const bytes = Buffer.from(await download.arrayBuffer());
    expect(bytes.length).toBe(listing.current.size);
    // A tar inside the gzip, whose first entry is a collection of this database.
    expect(gunzipSync(bytes).subarray(257, 262).toString()).toBe('ustar');
  });

  it('answers 404 for an archive that does not exist and 400 for a name that is not an archive', async () => {
    expectError(await api.get('/api/admin/backups/chatd-1999-01-01T00-00-00-000Z.tar.gz', asAdmin()), 404, 'NOT_FOUND');
    for (const name of ['..%2F..%2Fetc%2Fpasswd', 'chatd-x.tar.gz%2F..', 'last-backup.json']) {
      expectError(await api.get(`/api/admin/backups/${name}`, asAdmin()), 400, 'VALIDATION_FAILED');
    }
  });
});

describe('POST /api/admin/users/:id/password', () => {
  it('sets a generated password, shows it once, and ends every session of the user', async () => {
    const account = await register(api);
    const socket = await HubClient.connect(server.wsUrl, { token: account.accessToken });
    const response = await api.post(`/api/admin/users/${account.id}/password`, undefined, asAdmin());
    expect(response.status).toBe(200);
    expect(response.headers.get('cache-control')).toBe('no-store');
    expect(response.body).toMatchObject({ success: true, password: expect.any(String), user: { _id: account.id } });
    expect((await socket.closed).code).toBe(1008);
    expectError(await api.get('/api/auth/me', { token: account.accessToken }), 401, 'UNAUTHORIZED');
    expectError(await api.post('/api/auth/login', { email: account.email, password: account.password }), 401, 'UNAUTHORIZED');
    expect((await api.post('/api/auth/login', { email: account.email, password: response.body.password })).status).toBe(200);
    expect(JSON.stringify(await db.collection('users').findOne({ _id: new ObjectId(account.id) }))).not.toContain(response.body.password);
  });

  it('answers 404 for an unknown user and 400 for a malformed id', async () => {
    expectError(await api.post(`/api/admin/users/${new ObjectId().toHexString()}/password`, undefined, asAdmin()), 404, 'NOT_FOUND');
    expectError(await api.post('/api/admin/users/nope/password', undefined, asAdmin()), 400, 'VALIDATION_FAILED');
  });
});

describe('/api/admin/rooms', () => {
  it('lists public and private rooms by name a page at a time, never direct ones', async () => {
    const tag = `Adm${new ObjectId().toHexString().slice(-6)}`;
    await createRoom(db, [member._id], { name: `${tag} beta`, type: 'private' });
    await createRoom(db, [member._id], { name: `${tag} alpha`, type: 'public' });
    const direct = await api.post('/api/rooms/direct', { userId: admin.id }, asMember());
    expect(direct.status).toBe(201);
    const first = await api.get(`/api/admin/rooms?search=${tag.toLowerCase()}&limit=1`, asAdmin());
    expect(first.body).toMatchObject({ success: true, page: 1, limit: 1, hasMore: true, globalRetentionDays: 90, rooms: [{ name: `${tag} alpha`, type: 'public', retentionDays: null }] });
    const second = await api.get(`/api/admin/rooms?search=${tag}&limit=1&page=2`, asAdmin());
    expect(second.body).toMatchObject({ hasMore: false, rooms: [{ name: `${tag} beta`, type: 'private' }] });
    const all = await api.get('/api/admin/rooms?limit=100', asAdmin());
    expect(all.body.rooms.map((room: { type: string }) => room.type)).not.toContain('direct');
    // The search is text, not a pattern.
    expect((await api.get(`/api/admin/rooms?search=${encodeURIComponent('.*')}`, asAdmin())).body.rooms).toEqual([]);
  });

  it('sets the retention of a room the administrator is not in, and its members are told', async () => {
    const room = await createRoom(db, [member._id], { type: 'private' });
    const socket = await HubClient.authenticated(server.wsUrl, member.token);
    expect((await socket.request('join_room', { roomId: room.id })).event).toBe('message_history');
    const response = await api.patch(`/api/admin/rooms/${room.id}`, { retentionDays: 30 }, asAdmin());
    expect(response.status).toBe(200);
    expect(response.body.room).toMatchObject({ _id: room.id, retentionDays: 30 });
    expect((await socket.next('room_updated')).data.room).toMatchObject({ _id: room.id, retentionDays: 30 });
    expect((await db.collection('rooms').findOne({ _id: room._id }))!.retentionDays).toBe(30);
    expect((await api.patch(`/api/admin/rooms/${room.id}`, { retentionDays: null }, asAdmin())).body.room.retentionDays).toBeNull();
    await socket.close();
  });

  it('refuses direct rooms, unknown rooms and bad values, changing nothing', async () => {
    const direct = await api.post('/api/rooms/direct', { userId: admin.id }, asMember());
    const roomId = direct.body.room._id;
    await expectNoChange(db, async () => {
      expectError(await api.patch(`/api/admin/rooms/${roomId}`, { retentionDays: 5 }, asAdmin()), 403, 'FORBIDDEN');
      expectError(await api.patch(`/api/admin/rooms/${new ObjectId().toHexString()}`, { retentionDays: 5 }, asAdmin()), 404, 'NOT_FOUND');
      for (const body of [{ retentionDays: -1 }, { retentionDays: 1.5 }, { retentionDays: '7' }, {}, { retentionDays: 7, name: 'x' }]) {
        expectError(await api.patch(`/api/admin/rooms/${roomId}`, body, asAdmin()), 400, 'VALIDATION_FAILED');
      }
    }, ['rooms']);
  });
});

describe('notification preferences', () => {
  it('are stored in the settings, with defaults for accounts that never chose', async () => {
    const user = await createUser(db, { settings: { theme: 'dark', notifications: true, encryption: false } as never });
    const token = { token: user.token };
    expect((await api.get('/api/auth/me', token)).body.user.settings).toEqual({ theme: 'dark', notifications: true, encryption: false, notifyMessages: 'all', notifyCalls: true, notifySound: true });
    const changed = await api.put('/api/auth/profile', { settings: { notifyMessages: 'direct', notifyCalls: false } }, token);
    expect(changed.status).toBe(200);
    expect(changed.body.user.settings).toEqual({ theme: 'dark', notifications: true, encryption: false, notifyMessages: 'direct', notifyCalls: false, notifySound: true });
    expect((await db.collection('users').findOne({ _id: user._id }))!.settings).toMatchObject({ notifyMessages: 'direct', notifyCalls: false });
    await expectNoChange(db, async () => {
      for (const settings of [{ notifyMessages: 'some' }, { notifyCalls: 'yes' }, { notifySound: 1 }]) {
        expectError(await api.put('/api/auth/profile', { settings }, token), 400, 'VALIDATION_FAILED');
      }
    });
  });
});

describe('profile changes reach other users live', () => {
  it('sends user_updated to the user\'s devices and to online users sharing a room, and to nobody else', async () => {
    const [alice, bob, stranger] = await Promise.all([createUser(db), createUser(db), createUser(db)]);
    await createRoom(db, [alice._id, bob._id]);
    const [aliceHub, bobHub, strangerHub] = await Promise.all([HubClient.authenticated(server.wsUrl, alice.token), HubClient.authenticated(server.wsUrl, bob.token), HubClient.authenticated(server.wsUrl, stranger.token)]);
    const response = await api.put('/api/auth/profile', { bio: 'Now with a bio', location: 'Ghent' }, { token: alice.token });
    expect(response.status).toBe(200);
    for (const hub of [aliceHub, bobHub]) {
      const { data } = await hub.next('user_updated');
      expect(data.user).toMatchObject({ _id: alice.id, bio: 'Now with a bio', location: 'Ghent' });
      expect(JSON.stringify(data)).not.toMatch(/email|settings|passwordHash/);
    }
    await strangerHub.settle();
    expect(strangerHub.received('user_updated')).toEqual([]);
    // A settings change is nobody else's business.
    await api.put('/api/auth/profile', { settings: { theme: 'dark' } }, { token: alice.token });
    await bobHub.settle();
    expect(bobHub.received('user_updated')).toHaveLength(1);
    await Promise.all([aliceHub, bobHub, strangerHub].map((hub) => hub.close()));
  });
});

describe('PUT /api/auth/avatar', () => {
  it('makes an uploaded picture the avatar, served at a new address, and tells contacts', async () => {
    const [alice, bob] = await Promise.all([createUser(db), createUser(db)]);
    await createRoom(db, [alice._id, bob._id]);
    const bobHub = await HubClient.authenticated(server.wsUrl, bob.token);
    const response = await api.put('/api/auth/avatar', undefined, { token: alice.token, raw: upload(png, 'me.png', 'image/png') });
    expect(response.status, JSON.stringify(response.body)).toBe(200);
    const avatar: string = response.body.user.avatar;
    expect(avatar).toMatch(new RegExp(`/api/users/${alice.id}/avatar\\?v=\\d+$`));
    expect((await bobHub.next('user_updated')).data.user.avatar).toBe(avatar);

    const served = await fetch(`${server.baseUrl}${new URL(avatar, server.baseUrl).pathname}${new URL(avatar, server.baseUrl).search}`);
    expect(served.status).toBe(200);
    expect(served.headers.get('content-type')).toBe('image/png');
    expect(served.headers.get('x-content-type-options')).toBe('nosniff');
    expect(Buffer.from(await served.arrayBuffer()).equals(png)).toBe(true);

    // Choosing the generated avatar again forgets the picture.
    await api.put('/api/auth/profile', { avatar: '' }, { token: alice.token });
    const generated = await fetch(`${server.baseUrl}/api/users/${alice.id}/avatar`);
    expect(generated.headers.get('content-type')).toMatch(/^image\/svg\+xml/);
    expect(await db.collection('avatars').countDocuments({ _id: alice._id })).toBe(0);
    await bobHub.close();
  });

  it('refuses what is not a PNG, JPEG, GIF or WebP picture, and pictures over 1 MB, changing nothing', async () => {
    const user = await createUser(db);
    const svg = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>');
    await expectNoChange(db, async () => {
      expectError(await api.put('/api/auth/avatar', undefined, { token: user.token, raw: upload(svg, 'x.svg', 'image/svg+xml') }), 415, 'UNSUPPORTED_MEDIA_TYPE');
      expectError(await api.put('/api/auth/avatar', undefined, { token: user.token, raw: upload(Buffer.from('hello'), 'x.png', 'image/png') }), 415, 'UNSUPPORTED_MEDIA_TYPE');
      const huge = Buffer.concat([png, Buffer.alloc(1024 * 1024 + 1)]);
      expectError(await api.put('/api/auth/avatar', undefined, { token: user.token, raw: upload(huge, 'big.png', 'image/png') }), 413, 'PAYLOAD_TOO_LARGE');
      expectError(await api.put('/api/auth/avatar', undefined, { token: user.token, raw: new FormData() }), 400, 'VALIDATION_FAILED');
      expectError(await api.put('/api/auth/avatar', undefined, { raw: upload(png, 'me.png', 'image/png') }), 401, 'UNAUTHORIZED');
    }, ['avatars']);
    expect((await db.collection('users').findOne({ _id: user._id }))!.avatar).toBe(user.avatar);
    expect((await import('node:fs')).readdirSync(`${server.dataDir}/uploads`)).toEqual([]);
  });
});
