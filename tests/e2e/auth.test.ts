import { randomBytes } from 'node:crypto';
import { ObjectId, type Db, type MongoClient } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cookieHeader, expectError, login, register, setCookies, uniqueAccount } from '../support/accounts.js';
import { apiClient, type ApiClient } from '../support/api.js';
import { connectTestDb, startChatd, type ChatdServer } from '../support/chatd.js';
import { expectNoChange } from '../support/db-snapshot.js';
import { createUser } from '../support/factories.js';
import { HubClient } from '../support/hub-client.js';
import { flipSignatureByte, forgeToken } from '../support/tokens.js';

let server: ChatdServer;
let api: ApiClient;
let client: MongoClient;
let db: Db;

beforeAll(async () => {
  server = await startChatd({
    env: { BCRYPT_COST: '10', RATE_LIMIT_LOGIN: '1000/15m', RATE_LIMIT_REGISTER: '1000/15m', RATE_LIMIT_PASSWORD: '1000/15m', RATE_LIMIT_REFRESH: '1000/15m' },
  });
  api = apiClient(server.baseUrl);
  ({ client, db } = await connectTestDb(server.mongoUri!));
});
afterAll(async () => {
  await client?.close();
  await server?.stop();
});

const users = () => db.collection('users');
const tokens = () => db.collection<{ _id: string; kind: string; family?: string }>('tokens');
const operators = [{ $gt: '' }, { $ne: null }, { $regex: '.*' }, ['a@example.test'], 42, null, true];
const bearer = (token: string) => ({ token });

describe('register', () => {
  it('answers 201 with exactly the spec shape, stores a bcrypt hash and sets HTTP-only cookies', async () => {
    const input = { ...uniqueAccount('reg'), email: `Mixed.${randomBytes(3).toString('hex')}@Example.TEST` };
    const response = await api.post('/api/auth/register', input);
    expect(response.status).toBe(201);
    expect(Object.keys(response.body).sort()).toEqual(['message', 'success', 'tokens', 'user']);
    expect(response.body).toMatchObject({ success: true, message: 'Registration successful' });
    expect(Object.keys(response.body.user).sort()).toEqual(['_id', 'avatar', 'createdAt', 'email', 'status', 'username']);
    expect(Object.keys(response.body.tokens).sort()).toEqual(['accessToken', 'refreshToken']);
    expect(response.body.user).toMatchObject({ username: input.username, email: input.email.toLowerCase(), status: 'offline' });

    const stored = await users().findOne({ _id: new ObjectId(response.body.user._id) });
    expect(stored).toMatchObject({ email: input.email.toLowerCase(), usernameLower: input.username.toLowerCase(), role: 'user', disabled: false, isPremium: false, oauthProvider: null, blockedUsers: [] });
    expect(stored!.passwordHash).toMatch(/^\$2[aby]\$10\$/);
    expect(JSON.stringify(response.body)).not.toContain(stored!.passwordHash);

    const cookies = setCookies(response);
    expect(cookies.get('chatd_access')!.attributes).toMatch(/HttpOnly/);
    expect(cookies.get('chatd_access')!.attributes).toMatch(/SameSite=Lax/);
    expect(cookies.get('chatd_refresh')!.attributes).toMatch(/Path=\/api\/auth;.*HttpOnly/);
    expect(cookies.get('chatd_csrf')!.attributes).not.toMatch(/HttpOnly/);
    // PUBLIC_URL is http:// here: not Secure (tests/e2e/secure-cookies.test.ts covers https://).
    expect(cookies.get('chatd_access')!.attributes).not.toMatch(/Secure/);
  });

  it('gives a default avatar URL that serves a generated SVG with the initials', async () => {
    const account = await register(api, { ...uniqueAccount(), username: `jane_doe_${randomBytes(2).toString('hex')}` });
    const avatarUrl: string = account.response.body.user.avatar;
    // A path on the API's origin: it keeps working whatever PUBLIC_URL becomes.
    expect(avatarUrl).toBe(`/api/users/${account.id}/avatar`);
    const image = await fetch(`${server.baseUrl}/api/users/${account.id}/avatar`);
    expect(image.status).toBe(200);
    expect(image.headers.get('content-type')).toMatch(/^image\/svg\+xml/);
    const svg = await image.text();
    expect(svg).toMatch(/^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    expect(svg).toContain('>JD</text>');
    expectError(await api.get('/api/users/000000000000000000000000/avatar'), 404, 'NOT_FOUND');
    expectError(await api.delete('/api/auth/me'), 405, 'METHOD_NOT_ALLOWED');
  });

  it('refuses a taken e-mail (case-insensitively) or username with 409 naming the field, changing nothing', async () => {
    const taken = await register(api);
    await expectNoChange(db, async () => {
      const sameEmail = await api.post('/api/auth/register', { ...uniqueAccount(), email: taken.email.toUpperCase() });
      expectError(sameEmail, 409, 'CONFLICT');
      expect(sameEmail.body.error.details).toEqual([{ path: 'email', message: 'already registered' }]);
      const sameName = await api.post('/api/auth/register', { ...uniqueAccount(), username: taken.username.toUpperCase() });
      expectError(sameName, 409, 'CONFLICT');
      expect(sameName.body.error.details).toEqual([{ path: 'username', message: 'already taken' }]);
    });
  });

  it('creates one user when the same registration arrives many times at once', async () => {
    const input = uniqueAccount('race');
    const responses = await Promise.all(Array.from({ length: 8 }, () => api.post('/api/auth/register', input)));
    expect(responses.filter((r) => r.status === 201)).toHaveLength(1);
    for (const r of responses.filter((r) => r.status !== 201)) expectError(r, 409, 'CONFLICT');
    expect(await users().countDocuments({ email: input.email })).toBe(1);
  });

  it('refuses operator objects, arrays and other non-strings in every field, changing nothing', async () => {
    await expectNoChange(db, async () => {
      for (const field of ['username', 'email', 'password'] as const) {
        for (const value of operators) {
          const response = await api.post('/api/auth/register', { ...uniqueAccount(), [field]: value });
          expectError(response, 400, 'VALIDATION_FAILED');
          expect(response.body.error.details.map((d: { path: string }) => d.path)).toContain(field);
        }
      }
    });
  });

  it('refuses unknown fields (role, isPremium), __proto__ and constructor keys, changing nothing', async () => {
    await expectNoChange(db, async () => {
      for (const extra of [{ role: 'admin' }, { isPremium: true }, { constructor: { prototype: { role: 'admin' } } }, { $where: '1' }]) {
        expectError(await api.post('/api/auth/register', { ...uniqueAccount(), ...extra }), 400, 'VALIDATION_FAILED');
      }
      const raw = JSON.stringify(uniqueAccount()).replace(/^\{/, '{"__proto__":{"role":"admin"},');
      const poisoned = await api.post('/api/auth/register', undefined, { raw, headers: { 'Content-Type': 'application/json' } });
      expectError(poisoned, 400, 'VALIDATION_FAILED');
      expect(poisoned.body.error.message).toMatch(/__proto__/);
    });
  });

  it('enforces the username rules and the password policy, changing nothing', async () => {
    await expectNoChange(db, async () => {
      for (const username of ['ab', 'x'.repeat(33), 'has space', 'émile', 'semi;colon', '']) {
        expectError(await api.post('/api/auth/register', { ...uniqueAccount(), username }), 400, 'VALIDATION_FAILED');
      }
      for (const password of ['Sh0rt!', 'alllower1!', 'ALLUPPER1!', 'NoDigits!!', 'NoSpecial11']) {
        const response = await api.post('/api/auth/register', { ...uniqueAccount(), password });
        expectError(response, 400, 'VALIDATION_FAILED');
        expect(response.body.error.details[0].path).toBe('password');
      }
      expectError(await api.post('/api/auth/register', { ...uniqueAccount(), email: 'not-an-email' }), 400, 'VALIDATION_FAILED');
    });
  });

  it('refuses passwords over 72 bytes (bcrypt would ignore the rest), multi-byte ones included, and a 1 MB one', async () => {
    await expectNoChange(db, async () => {
      const over = await api.post('/api/auth/register', { ...uniqueAccount(), password: `Aa1!${'x'.repeat(69)}` });
      expectError(over, 400, 'VALIDATION_FAILED');
      expect(over.body.error.details[0]).toEqual({ path: 'password', message: expect.stringMatching(/72 bytes/) });
      // 28 characters, 76 bytes in UTF-8.
      expectError(await api.post('/api/auth/register', { ...uniqueAccount(), password: `Aa1!${'€'.repeat(24)}` }), 400, 'VALIDATION_FAILED');
      const megabyte = await api.post('/api/auth/register', { ...uniqueAccount(), password: `Aa1!${'x'.repeat(1_000_000)}` });
      expectError(megabyte, 400, 'VALIDATION_FAILED');
      // Past the JSON body limit (1 MiB) the body parser stops it first.
      expectError(await api.post('/api/auth/register', { ...uniqueAccount(), password: `Aa1!${'x'.repeat(1024 * 1024)}` }), 413, 'PAYLOAD_TOO_LARGE');
    });
  });
});

describe('login', () => {
  it('answers the spec shape, ignores e-mail case and sets cookies', async () => {
    const account = await register(api);
    const response = await api.post('/api/auth/login', { email: account.email.toUpperCase(), password: account.password });
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({ success: true, message: 'Login successful', user: { _id: account.id, email: account.email, username: account.username } });
    expect(Object.keys(response.body.user).sort()).toEqual(['_id', 'avatar', 'createdAt', 'email', 'status', 'username']);
    expect(setCookies(response).has('chatd_access')).toBe(true);
  });

  it('signs one account in from several devices at the same moment, every one of them', async () => {
    const account = await register(api);
    const responses = await Promise.all(Array.from({ length: 6 }, () => api.post('/api/auth/login', { email: account.email, password: account.password })));
    expect(responses.map((response) => response.status)).toEqual([200, 200, 200, 200, 200, 200]);
  });

  it('answers an unknown e-mail, a wrong password and a password-less account identically, changing nothing', async () => {
    const account = await register(api);
    const oauthOnly = await createUser(db, { passwordHash: null, email: `oauth.${randomBytes(3).toString('hex')}@example.test` });
    await expectNoChange(db, async () => {
      const wrong = await api.post('/api/auth/login', { email: account.email, password: 'Wr0ng!password' });
      const unknown = await api.post('/api/auth/login', { email: `nobody.${randomBytes(3).toString('hex')}@example.test`, password: 'Wr0ng!password' });
      const noPassword = await api.post('/api/auth/login', { email: oauthOnly.email, password: 'Wr0ng!password' });
      expectError(wrong, 401, 'UNAUTHORIZED');
      expect(unknown.status).toBe(wrong.status);
      expect(unknown.body).toEqual(wrong.body);
      expect(noPassword.body).toEqual(wrong.body);
      expect(wrong.body.error.message).toBe('Invalid email or password');
    });
  });

  it('refuses operator injection in email and password, changing nothing', async () => {
    const account = await register(api);
    await expectNoChange(db, async () => {
      for (const value of operators) {
        expectError(await api.post('/api/auth/login', { email: value, password: account.password }), 400, 'VALIDATION_FAILED');
        expectError(await api.post('/api/auth/login', { email: account.email, password: value }), 400, 'VALIDATION_FAILED');
      }
      expectError(await api.post('/api/auth/login', { email: account.email, password: account.password, remember: true }), 400, 'VALIDATION_FAILED');
    });
  });

  it('never accepts a second password that shares the first 72 bytes', async () => {
    const first72 = `Aa1!${randomBytes(34).toString('hex')}`;
    expect(Buffer.byteLength(first72)).toBe(72);
    const account = await register(api, { ...uniqueAccount(), password: first72 });
    await expectNoChange(db, async () => {
      // bcrypt alone would call these equal; chatd refuses the longer one before hashing.
      const longer = await api.post('/api/auth/login', { email: account.email, password: `${first72}-anything-after` });
      expectError(longer, 400, 'VALIDATION_FAILED');
      const registerLonger = await api.post('/api/auth/register', { ...uniqueAccount(), password: `${first72}X` });
      expectError(registerLonger, 400, 'VALIDATION_FAILED');
    });
    await login(api, account.email, first72);
  });
});

describe('access tokens', () => {
  it('GET /me answers the caller with e-mail and settings, never hashes or tokens', async () => {
    const account = await register(api);
    const me = await api.get('/api/auth/me', bearer(account.accessToken));
    expect(me.status).toBe(200);
    expect(me.body.user).toMatchObject({ _id: account.id, email: account.email, username: account.username, role: 'user', settings: { theme: 'light', notifications: true, encryption: false } });
    expect(JSON.stringify(me.body)).not.toMatch(/passwordHash|sessionsValidAfter|\$2[aby]\$/);
  });

  it('accepts the test factory tokens (users inserted directly)', async () => {
    const user = await createUser(db);
    expect((await api.get('/api/auth/me', bearer(user.token))).body.user._id).toBe(user.id);
  });

  it('refuses alg none, a flipped signature byte, expired, wrong-secret and refresh tokens, and a missing user', async () => {
    const account = await register(api);
    await expectNoChange(db, async () => {
      for (const token of [
        forgeToken(account.id, { alg: 'none' }),
        forgeToken(account.id, { alg: 'HS384' }),
        forgeToken(account.id, { claims: { iss: 'someone-else' } }),
        forgeToken(account.id, { claims: { aud: ['chatd:refresh'] } }),
        forgeToken(account.id, { claims: { nbf: Math.floor(Date.now() / 1000) + 600 } }),
        flipSignatureByte(account.accessToken),
        forgeToken(account.id, { expiresInSeconds: -5 }),
        forgeToken(account.id, { secret: 'another-secret-another-secret-another-secret' }),
        account.refreshToken,
        forgeToken(account.id, { type: 'refresh' }),
        forgeToken(new ObjectId().toHexString()),
        forgeToken('not-an-object-id'),
        'garbage',
      ]) {
        expectError(await api.get('/api/auth/me', bearer(token)), 401, 'UNAUTHORIZED');
      }
      expectError(await api.get('/api/auth/me'), 401, 'UNAUTHORIZED');
      expectError(await api.get('/api/auth/me', { headers: { Authorization: `Basic ${account.accessToken}` } }), 401, 'UNAUTHORIZED');
      expect((await api.get('/api/auth/me', bearer(forgeToken(account.id, { expiresInSeconds: -5 })))).body.error.message).toBe('Token expired');
    });
  });

  it('never accepts an access token as a refresh token', async () => {
    const account = await register(api);
    await expectNoChange(db, async () => {
      expectError(await api.post('/api/auth/refresh', { refreshToken: account.accessToken }), 401, 'UNAUTHORIZED');
      expectError(await api.post('/api/auth/refresh', { refreshToken: forgeToken(account.id, { type: 'refresh', alg: 'none' }) }), 401, 'UNAUTHORIZED');
      expectError(await api.post('/api/auth/refresh', { refreshToken: { $gt: '' } }), 400, 'VALIDATION_FAILED');
      expectError(await api.post('/api/auth/refresh', {}), 401, 'UNAUTHORIZED');
    });
  });
});

describe('refresh rotation', () => {
  it('returns a new pair every time, in the same session', async () => {
    const account = await register(api);
    const first = await api.post('/api/auth/refresh', { refreshToken: account.refreshToken });
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ success: true, message: 'Token refreshed', tokens: { accessToken: expect.any(String), refreshToken: expect.any(String) } });
    expect(first.body.tokens.refreshToken).not.toBe(account.refreshToken);
    expect(first.body.tokens.accessToken).not.toBe(account.accessToken);
    const second = await api.post('/api/auth/refresh', { refreshToken: first.body.tokens.refreshToken });
    expect(second.status).toBe(200);
    expect((await api.get('/api/auth/me', bearer(second.body.tokens.accessToken))).status).toBe(200);
  });

  it('revokes the whole family when a rotated refresh token is presented again after its successor was used', async () => {
    const account = await register(api);
    const rotated = await api.post('/api/auth/refresh', { refreshToken: account.refreshToken });
    // Using the new pair ends the reuse grace of the token it replaced.
    const newest = (await api.post('/api/auth/refresh', { refreshToken: rotated.body.tokens.refreshToken })).body.tokens;
    const otherSession = await login(api, account.email, account.password);

    const reuse = await api.post('/api/auth/refresh', { refreshToken: account.refreshToken });
    expectError(reuse, 401, 'UNAUTHORIZED');
    expect(reuse.body.error.message).toMatch(/already used/);
    // The newest pair of the family stops working too...
    expectError(await api.post('/api/auth/refresh', { refreshToken: newest.refreshToken }), 401, 'UNAUTHORIZED');
    expectError(await api.get('/api/auth/me', bearer(newest.accessToken)), 401, 'UNAUTHORIZED');
    // ...and nothing of it is left to refresh with, while another session is untouched.
    const family = JSON.parse(Buffer.from(newest.refreshToken.split('.')[1], 'base64url').toString()).fam;
    expect(await tokens().countDocuments({ kind: 'refresh', family })).toBe(0);
    expect(await tokens().countDocuments({ _id: `family:${family}` })).toBe(1);
    expect((await api.get('/api/auth/me', bearer(otherSession.accessToken))).status).toBe(200);
  });

  it('gives simultaneous refreshes with one token (two tabs) the same new pair, and keeps the session', async () => {
    const account = await register(api);
    const responses = await Promise.all(Array.from({ length: 10 }, () => api.post('/api/auth/refresh', { refreshToken: account.refreshToken })));
    for (const r of responses) expect(r.status).toBe(200);
    const pairs = new Set(responses.map((r) => `${r.body.tokens.accessToken} ${r.body.tokens.refreshToken}`));
    expect(pairs.size).toBe(1);
    const [pair] = responses.map((r) => r.body.tokens);
    expect((await api.get('/api/auth/me', bearer(pair.accessToken))).status).toBe(200);
    // The session goes on: its one new refresh token rotates as usual.
    const next = await api.post('/api/auth/refresh', { refreshToken: pair.refreshToken });
    expect(next.status).toBe(200);
    expect((await api.get('/api/auth/me', bearer(next.body.tokens.accessToken))).status).toBe(200);
  });

  it('gives the cookie refreshes of two tabs the same pair (CSRF checked), and the cookies keep working', async () => {
    const account = await register(api);
    const cookies = setCookies(account.response);
    const headers = {
      cookie: cookieHeader({ chatd_refresh: cookies.get('chatd_refresh')!.value }),
      'x-csrf-token': cookies.get('chatd_csrf')!.value,
    };
    const [a, b] = await Promise.all([api.post('/api/auth/refresh', {}, { headers }), api.post('/api/auth/refresh', {}, { headers })]);
    expect(a.status).toBe(200);
    expect(b.status).toBe(200);
    expect(b.body.tokens).toEqual(a.body.tokens);
    expect(setCookies(a).get('chatd_refresh')!.value).toBe(setCookies(b).get('chatd_refresh')!.value);
  });
});

describe('refresh reuse grace', () => {
  let graceServer: ChatdServer;
  let graceApi: ApiClient;
  beforeAll(async () => {
    graceServer = await startChatd({ env: { BCRYPT_COST: '10', REFRESH_REUSE_GRACE_SECONDS: '1', RATE_LIMIT_REFRESH: '1000/15m' } });
    graceApi = apiClient(graceServer.baseUrl);
  });
  afterAll(async () => {
    await graceServer?.stop();
  });

  it('detects reuse once the grace has passed, and revokes the session', async () => {
    const account = await register(graceApi);
    const rotated = await graceApi.post('/api/auth/refresh', { refreshToken: account.refreshToken });
    expect(rotated.status).toBe(200);
    const again = await graceApi.post('/api/auth/refresh', { refreshToken: account.refreshToken });
    expect(again.body.tokens).toEqual(rotated.body.tokens);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const reuse = await graceApi.post('/api/auth/refresh', { refreshToken: account.refreshToken });
    expectError(reuse, 401, 'UNAUTHORIZED');
    expect(reuse.body.error.message).toMatch(/already used/);
    expectError(await graceApi.get('/api/auth/me', bearer(rotated.body.tokens.accessToken)), 401, 'UNAUTHORIZED');
    expectError(await graceApi.post('/api/auth/refresh', { refreshToken: rotated.body.tokens.refreshToken }), 401, 'UNAUTHORIZED');
  });
});

describe('logout', () => {
  it('revokes the access token and the refresh family, clears cookies, and leaves other sessions alone', async () => {
    const account = await register(api);
    const other = await login(api, account.email, account.password);
    const response = await api.post('/api/auth/logout', {}, bearer(account.accessToken));
    expect(response.status).toBe(200);
    expect(response.body).toEqual({ success: true, message: 'Logged out' });
    expect(setCookies(response).get('chatd_access')!.attributes).toMatch(/Max-Age=0/);
    expectError(await api.get('/api/auth/me', bearer(account.accessToken)), 401, 'UNAUTHORIZED');
    expectError(await api.post('/api/auth/refresh', { refreshToken: account.refreshToken }), 401, 'UNAUTHORIZED');
    const jti = JSON.parse(Buffer.from(account.accessToken.split('.')[1]!, 'base64url').toString()).jti;
    expect(await tokens().findOne({ _id: `access:${jti}` })).toMatchObject({ kind: 'revoked-access' });
    expect((await api.get('/api/auth/me', bearer(other.accessToken))).status).toBe(200);
  });

  it('closes the session\'s WebSocket with 1008 and refuses the token on the hub afterwards', async () => {
    const account = await register(api);
    const socket = await HubClient.connect(server.wsUrl, { token: account.accessToken });
    expect((await api.post('/api/auth/logout', { refreshToken: account.refreshToken }, bearer(account.accessToken))).status).toBe(200);
    expect((await socket.closed).code).toBe(1008);
    const again = await HubClient.connect(server.wsUrl);
    expect((await again.request('authenticate', { token: account.accessToken })).data.code).toBe('UNAUTHORIZED');
    await again.close();
  });
});

describe('password change', () => {
  it('refuses a wrong current password, a mismatched confirmation, a weak or over-long password, changing nothing', async () => {
    const account = await register(api);
    await expectNoChange(db, async () => {
      const wrong = await api.put('/api/auth/password', { currentPassword: 'Wr0ng!pass', newPassword: 'N3w!gull-lantern', confirmPassword: 'N3w!gull-lantern' }, bearer(account.accessToken));
      expectError(wrong, 400, 'VALIDATION_FAILED');
      expect(wrong.body.error.details).toEqual([{ path: 'currentPassword', message: 'is incorrect' }]);
      const mismatch = await api.put('/api/auth/password', { currentPassword: account.password, newPassword: 'N3w!gull-lantern', confirmPassword: 'N3w!passworx' }, bearer(account.accessToken));
      expectError(mismatch, 400, 'VALIDATION_FAILED');
      expect(mismatch.body.error.details[0].path).toBe('confirmPassword');
      expectError(await api.put('/api/auth/password', { currentPassword: account.password, newPassword: 'weak', confirmPassword: 'weak' }, bearer(account.accessToken)), 400, 'VALIDATION_FAILED');
      const long = `Aa1!${'y'.repeat(80)}`;
      expectError(await api.put('/api/auth/password', { currentPassword: account.password, newPassword: long, confirmPassword: long }, bearer(account.accessToken)), 400, 'VALIDATION_FAILED');
      expectError(await api.put('/api/auth/password', { currentPassword: { $ne: '' }, newPassword: 'N3w!gull-lantern', confirmPassword: 'N3w!gull-lantern' }, bearer(account.accessToken)), 400, 'VALIDATION_FAILED');
      expectError(await api.put('/api/auth/password', { currentPassword: account.password, newPassword: 'N3w!gull-lantern', confirmPassword: 'N3w!gull-lantern' }), 401, 'UNAUTHORIZED');
    });
  });

  it('revokes every session (tokens and WebSockets) and answers a fresh pair', async () => {
    const account = await register(api);
    const other = await login(api, account.email, account.password);
    const socket = await HubClient.connect(server.wsUrl, { token: other.accessToken });
    const response = await api.put('/api/auth/password', { currentPassword: account.password, newPassword: 'N3w!gull-lantern', confirmPassword: 'N3w!gull-lantern' }, bearer(account.accessToken));
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({ success: true, tokens: { accessToken: expect.any(String), refreshToken: expect.any(String) } });
    for (const old of [account.accessToken, other.accessToken]) expectError(await api.get('/api/auth/me', bearer(old)), 401, 'UNAUTHORIZED');
    for (const old of [account.refreshToken, other.refreshToken]) expectError(await api.post('/api/auth/refresh', { refreshToken: old }), 401, 'UNAUTHORIZED');
    expect((await socket.closed).code).toBe(1008);
    expect((await api.get('/api/auth/me', bearer(response.body.tokens.accessToken))).status).toBe(200);
    expect((await api.post('/api/auth/refresh', { refreshToken: response.body.tokens.refreshToken })).status).toBe(200);
    expectError(await api.post('/api/auth/login', { email: account.email, password: account.password }), 401, 'UNAUTHORIZED');
    await login(api, account.email, 'N3w!gull-lantern');
  });

  it('tells an OAuth-only account to use the reset instead', async () => {
    const user = await createUser(db, { passwordHash: null, oauthProvider: 'github' });
    await expectNoChange(db, async () => {
      const response = await api.put('/api/auth/password', { currentPassword: 'Anyth1ng!', newPassword: 'N3w!gull-lantern', confirmPassword: 'N3w!gull-lantern' }, bearer(user.token));
      expectError(response, 400, 'VALIDATION_FAILED');
      expect(response.body.error.message).toMatch(/reset/);
    });
  });
});

describe('cookie sessions', () => {
  it('authenticates GET by cookie, and requires the CSRF token and an allowed Origin for unsafe methods', async () => {
    const account = await register(api);
    const cookies = setCookies(account.response);
    const jar = cookieHeader({ chatd_access: cookies.get('chatd_access')!.value, chatd_csrf: cookies.get('chatd_csrf')!.value });
    const csrf = cookies.get('chatd_csrf')!.value;

    expect((await api.get('/api/auth/me', { headers: { Cookie: jar } })).body.user._id).toBe(account.id);
    // Another session's CSRF token does not fit this session.
    const otherCsrf = setCookies((await login(api, account.email, account.password)).response).get('chatd_csrf')!.value;
    expect(otherCsrf).not.toBe(csrf);
    await expectNoChange(db, async () => {
      expectError(await api.put('/api/auth/profile', { bio: 'csrf' }, { headers: { Cookie: jar } }), 403, 'FORBIDDEN');
      expectError(await api.put('/api/auth/profile', { bio: 'csrf' }, { headers: { Cookie: jar, 'X-CSRF-Token': `${csrf.slice(0, -2)}xx` } }), 403, 'FORBIDDEN');
      expectError(await api.put('/api/auth/profile', { bio: 'csrf' }, { headers: { Cookie: jar, 'X-CSRF-Token': otherCsrf } }), 403, 'FORBIDDEN');
      expectError(await api.put('/api/auth/profile', { bio: 'csrf' }, { headers: { Cookie: jar, 'X-CSRF-Token': csrf, Origin: 'https://evil.example' } }), 403, 'FORBIDDEN');
      expectError(await api.post('/api/auth/logout', {}, { headers: { Cookie: jar } }), 403, 'FORBIDDEN');
    });
    const ok = await api.put('/api/auth/profile', { bio: 'csrf' }, { headers: { Cookie: jar, 'X-CSRF-Token': csrf, Origin: server.baseUrl.replace('127.0.0.1', 'localhost') } });
    expect(ok.status).toBe(200);
    expect(ok.body.user.bio).toBe('csrf');
  });

  it('refuses a malformed Authorization header on REST and on the hub upgrade alike, even beside a valid cookie', async () => {
    const account = await register(api);
    const jar = cookieHeader({ chatd_access: setCookies(account.response).get('chatd_access')!.value });
    expect((await HubClient.connect(server.wsUrl, { cookie: jar })).socket.close()).toBeUndefined();
    for (const authorization of [`Basic ${account.accessToken}`, `Bearer`, `Bearer ${account.accessToken} extra`]) {
      expectError(await api.get('/api/auth/me', { headers: { Cookie: jar, Authorization: authorization } }), 401, 'UNAUTHORIZED');
      await expect(HubClient.connect(server.wsUrl, { cookie: jar, headers: { Authorization: authorization } })).rejects.toMatchObject({ statusCode: 401 });
    }
  });

  it('refreshes from the refresh cookie with the CSRF token, and refuses it without', async () => {
    const account = await register(api);
    const cookies = setCookies(account.response);
    const jar = cookieHeader({ chatd_refresh: cookies.get('chatd_refresh')!.value });
    await expectNoChange(db, async () => {
      expectError(await api.post('/api/auth/refresh', undefined, { headers: { Cookie: jar } }), 403, 'FORBIDDEN');
    });
    const refreshed = await api.post('/api/auth/refresh', undefined, { headers: { Cookie: jar, 'X-CSRF-Token': cookies.get('chatd_csrf')!.value } });
    expect(refreshed.status).toBe(200);
    expect(setCookies(refreshed).get('chatd_refresh')!.value).toBe(refreshed.body.tokens.refreshToken);
  });

  it('leaves bearer clients without a CSRF token alone', async () => {
    const account = await register(api);
    expect((await api.put('/api/auth/profile', { bio: 'bearer' }, bearer(account.accessToken))).status).toBe(200);
  });
});
