import { randomBytes } from 'node:crypto';
import { ObjectId, type Db, type MongoClient } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectError, register, uniqueAccount, type RegisteredAccount } from '../support/accounts.js';
import { apiClient, type ApiClient } from '../support/api.js';
import { connectTestDb, startChatd, type ChatdServer } from '../support/chatd.js';
import { expectNoChange } from '../support/db-snapshot.js';
import { createUser } from '../support/factories.js';

let server: ChatdServer;
let api: ApiClient;
let client: MongoClient;
let db: Db;
let me: RegisteredAccount;

beforeAll(async () => {
  server = await startChatd({ env: { BCRYPT_COST: '10', RATE_LIMIT_REGISTER: '1000/15m' } });
  api = apiClient(server.baseUrl);
  ({ client, db } = await connectTestDb(server.mongoUri!));
  me = await register(api);
});
afterAll(async () => {
  await client?.close();
  await server?.stop();
});

const auth = () => ({ token: me.accessToken });
const stored = async (id: string) => (await db.collection('users').findOne({ _id: new ObjectId(id) }))!;

describe('PUT /api/auth/profile', () => {
  it('updates bio, location, website, avatar and settings (merged), and answers the caller\'s profile', async () => {
    const response = await api.put('/api/auth/profile', { bio: 'Hello there', location: 'Lyon', website: 'https://example.com/me', avatar: 'https://images.example/a.png', settings: { theme: 'dark' } }, auth());
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({
      success: true,
      message: 'Profile updated',
      user: { bio: 'Hello there', location: 'Lyon', website: 'https://example.com/me', avatar: 'https://images.example/a.png', settings: { theme: 'dark', notifications: true, encryption: false }, email: me.email },
    });
    const again = await api.put('/api/auth/profile', { settings: { notifications: false }, website: '', avatar: '' }, auth());
    expect(again.body.user.settings).toEqual({ theme: 'dark', notifications: false, encryption: false, notifyMessages: 'all', notifyCalls: true, notifySound: true });
    expect(again.body.user.website).toBe('');
    expect(again.body.user.avatar).toMatch(new RegExp(`/api/users/${me.id}/avatar$`));
    expect(await stored(me.id)).toMatchObject({ bio: 'Hello there', settings: { theme: 'dark', notifications: false, encryption: false } });
  });

  it('refuses javascript: and other non-http URLs, overlong bio, bad settings and unknown fields, changing nothing', async () => {
    await expectNoChange(db, async () => {
      for (const body of [
        { website: 'javascript:alert(1)' },
        { website: 'JAVASCRIPT:alert(1)' },
        { website: 'data:text/html,<script>alert(1)</script>' },
        { website: 'ftp://example.com' },
        { website: 'not a url' },
        { avatar: 'javascript:alert(1)' },
        { bio: 'x'.repeat(501) },
        { bio: { $set: { role: 'admin' } } },
        { location: ['Lyon'] },
        { settings: { theme: 'blue' } },
        { settings: { theme: 'dark', fontSize: 12 } },
        { settings: 'dark' },
        { role: 'admin' },
        { isPremium: true },
        { disabled: false },
        { email: 'new@example.test' },
        { 'settings.theme': 'dark' },
        {},
      ]) {
        expectError(await api.put('/api/auth/profile', body, auth()), 400, 'VALIDATION_FAILED');
      }
    });
    expect((await stored(me.id)).role).toBe('user');
    expect((await stored(me.id)).isPremium).toBe(false);
  });

  it('requires authentication', async () => {
    await expectNoChange(db, async () => {
      expectError(await api.put('/api/auth/profile', { bio: 'anonymous' }), 401, 'UNAUTHORIZED');
    });
  });
});

describe('POST|DELETE /api/auth/block/:userId', () => {
  it('blocks and unblocks another user, idempotently', async () => {
    const other = await createUser(db);
    const blocked = await api.post(`/api/auth/block/${other.id}`, undefined, auth());
    expect(blocked.status).toBe(200);
    expect(blocked.body).toMatchObject({ success: true, message: 'User blocked', blockedUsers: [other.id] });
    expect((await api.post(`/api/auth/block/${other.id}`, undefined, auth())).body.blockedUsers).toEqual([other.id]);
    expect((await stored(me.id)).blockedUsers.map(String)).toEqual([other.id]);
    const unblocked = await api.delete(`/api/auth/block/${other.id}`, undefined, auth());
    expect(unblocked.body).toMatchObject({ success: true, message: 'User unblocked', blockedUsers: [] });
    expect((await stored(me.id)).blockedUsers).toEqual([]);
  });

  it('keeps every block when many arrive at once (writes to one user are queued)', async () => {
    const others = await Promise.all(Array.from({ length: 8 }, () => createUser(db)));
    const responses = await Promise.all(others.map((other) => api.post(`/api/auth/block/${other.id}`, undefined, auth())));
    expect(responses.every((r) => r.status === 200)).toBe(true);
    expect((await stored(me.id)).blockedUsers.map(String).sort()).toEqual(others.map((o) => o.id).sort());
    await Promise.all(others.map((other) => api.delete(`/api/auth/block/${other.id}`, undefined, auth())));
    expect((await stored(me.id)).blockedUsers).toEqual([]);
  });

  it('refuses blocking yourself, a malformed id and an unknown user, changing nothing', async () => {
    await expectNoChange(db, async () => {
      const self = await api.post(`/api/auth/block/${me.id}`, undefined, auth());
      expectError(self, 400, 'VALIDATION_FAILED');
      expect(self.body.error.message).toMatch(/yourself/);
      for (const id of ['not-an-id', '123', `${me.id}0`, 'zzzzzzzzzzzzzzzzzzzzzzzz', '%7B%22%24gt%22%3A%22%22%7D']) {
        expectError(await api.post(`/api/auth/block/${id}`, undefined, auth()), 400, 'VALIDATION_FAILED');
        expectError(await api.delete(`/api/auth/block/${id}`, undefined, auth()), 400, 'VALIDATION_FAILED');
      }
      expectError(await api.post(`/api/auth/block/${new ObjectId().toHexString()}`, undefined, auth()), 404, 'NOT_FOUND');
      expectError(await api.post(`/api/auth/block/${new ObjectId().toHexString()}`), 401, 'UNAUTHORIZED');
    });
  });
});

describe('GET /api/users and /api/users/:id', () => {
  it('finds users by username prefix, case-insensitively, with public fields only, a page at a time', async () => {
    const prefix = `find${randomBytes(2).toString('hex')}`;
    const found = await Promise.all(['alpha', 'bravo', 'charlie'].map((name) => register(api, { ...uniqueAccount(), username: `${prefix}_${name}` })));
    const hidden = await createUser(db, { username: `${prefix}_delta`, disabled: true });
    const first = await api.get(`/api/users?search=${prefix.toUpperCase()}&limit=2`, auth());
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ success: true, page: 1, limit: 2, hasMore: true });
    expect(first.body.users.map((u: { username: string }) => u.username)).toEqual([`${prefix}_alpha`, `${prefix}_bravo`]);
    const second = await api.get(`/api/users?search=${prefix}&limit=2&page=2`, auth());
    expect(second.body).toMatchObject({ page: 2, hasMore: false });
    expect(second.body.users.map((u: { username: string }) => u.username)).toEqual([`${prefix}_charlie`]);
    const text = JSON.stringify([first.body, second.body]);
    for (const account of found) expect(text).not.toContain(account.email);
    expect(text).not.toMatch(/email|passwordHash|blockedUsers|settings|role|disabled/);
    expect(text).not.toContain(hidden.username);
  });

  it('treats the search text literally (no regular expressions)', async () => {
    const response = await api.get(`/api/users?search=${encodeURIComponent('.*')}`, auth());
    expect(response.status).toBe(200);
    expect(response.body.users).toEqual([]);
  });

  it('refuses unknown, repeated and out-of-range query parameters', async () => {
    for (const query of ['search=a&search=b', 'limit=1000', 'limit=0', 'page=0', 'page=abc', 'sort=email', 'search[$gt]=']) {
      expectError(await api.get(`/api/users?${query}`, auth()), 400, 'VALIDATION_FAILED');
    }
    expectError(await api.get('/api/users'), 401, 'UNAUTHORIZED');
  });

  it('shows one user\'s public profile; malformed ids are 400, unknown and disabled ones 404', async () => {
    const other = await register(api);
    const response = await api.get(`/api/users/${other.id}`, auth());
    expect(response.status).toBe(200);
    expect(response.body.user).toMatchObject({ _id: other.id, username: other.username, status: 'offline' });
    expect(response.body.user.email).toBeUndefined();
    expect(JSON.stringify(response.body)).not.toMatch(/passwordHash|email/);
    expectError(await api.get('/api/users/not-an-id', auth()), 400, 'VALIDATION_FAILED');
    expectError(await api.get(`/api/users/${new ObjectId().toHexString()}`, auth()), 404, 'NOT_FOUND');
    const disabled = await createUser(db, { disabled: true });
    expectError(await api.get(`/api/users/${disabled.id}`, auth()), 404, 'NOT_FOUND');
  });
});

describe('OAuth providers without configuration', () => {
  it('are not offered, and starting their login is 404', async () => {
    expect((await api.get('/api/auth/oauth')).body).toEqual({ success: true, providers: [] });
    expectError(await api.get('/api/auth/oauth/google'), 404, 'NOT_FOUND');
    expectError(await api.get('/api/auth/oauth/github/callback?code=x&state=y'), 404, 'NOT_FOUND');
  });
});
