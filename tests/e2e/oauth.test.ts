import { randomBytes } from 'node:crypto';
import type { Db, MongoClient } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectError, register, setCookies } from '../support/accounts.js';
import { apiClient, type ApiClient, type ApiResponse } from '../support/api.js';
import { connectTestDb, startChatd, type ChatdServer } from '../support/chatd.js';
import { expectNoChange } from '../support/db-snapshot.js';
import { startGitHub, startGoogle } from '../support/oauth-providers.js';

let server: ChatdServer;
let api: ApiClient;
let client: MongoClient;
let db: Db;
let google: Awaited<ReturnType<typeof startGoogle>>;
let github: Awaited<ReturnType<typeof startGitHub>>;

beforeAll(async () => {
  google = await startGoogle();
  github = await startGitHub();
  server = await startChatd({ env: { BCRYPT_COST: '10', RATE_LIMIT_REGISTER: '1000/15m', ...google.env, ...github.env } });
  api = apiClient(server.baseUrl);
  ({ client, db } = await connectTestDb(server.mongoUri!));
});
afterAll(async () => {
  await client?.close();
  await server?.stop();
  await google?.stop();
  await github?.stop();
});

const identities = () => db.collection('identities');
const users = () => db.collection('users');
const uid = () => randomBytes(4).toString('hex');

/** Starts a login at chatd, follows the provider's redirect, and returns what the callback needs. */
async function authorize(provider: 'google' | 'github', target = server): Promise<{ callbackPath: string; stateCookie: string; state: string }> {
  const start = await fetch(`${target.baseUrl}/api/auth/oauth/${provider}`, { redirect: 'manual' });
  expect(start.status).toBe(302);
  const authorizeUrl = new URL(start.headers.get('location')!);
  expect(authorizeUrl.searchParams.get('code_challenge_method')).toBe('S256');
  expect(authorizeUrl.searchParams.get('code_challenge')).toMatch(/^[A-Za-z0-9_-]{43}$/);
  expect(authorizeUrl.searchParams.get('redirect_uri')).toBe(`http://localhost:${target.httpPort}/api/auth/oauth/${provider}/callback`);
  const cookie = start.headers.getSetCookie().find((line) => line.startsWith('chatd_oauth='))!;
  expect(cookie).toMatch(/HttpOnly/);
  expect(cookie).toMatch(/Path=\/api\/auth\/oauth/);
  const atProvider = await fetch(authorizeUrl, { redirect: 'manual' });
  expect(atProvider.status).toBe(302);
  const callback = new URL(atProvider.headers.get('location')!);
  return { callbackPath: callback.pathname + callback.search, stateCookie: cookie.split(';')[0]!, state: authorizeUrl.searchParams.get('state')! };
}

async function oauthLogin(provider: 'google' | 'github'): Promise<ApiResponse> {
  const { callbackPath, stateCookie } = await authorize(provider);
  return api.get(callbackPath, { headers: { Cookie: stateCookie } });
}

describe('OAuth with Google (a standards-compliant provider)', () => {
  it('creates an account keyed by (provider, subject), using PKCE S256, and issues chatd tokens and cookies', async () => {
    const sub = `g-${uid()}`;
    const email = `g.${uid()}@gmail.example`;
    google.profile = { sub, email, email_verified: true, name: 'Grace Hopper' };
    const before = google.seen.verifiers.length;
    const response = await oauthLogin('google');
    expect(response.status, JSON.stringify(response.body)).toBe(200);
    expect(response.body).toMatchObject({ success: true, message: 'Login successful', user: { email, username: 'Grace_Hopper' }, tokens: { accessToken: expect.any(String), refreshToken: expect.any(String) } });
    expect(google.seen.verifiers.slice(before)).toEqual([true]);
    expect(google.seen.challengeMethods.at(-1)).toBe('S256');
    const cookies = setCookies(response);
    expect(cookies.get('chatd_oauth')!.attributes).toMatch(/Max-Age=0/);
    expect(cookies.has('chatd_access')).toBe(true);

    const identity = await identities().findOne({ _id: `google:${sub}` as never });
    expect(identity).toMatchObject({ provider: 'google', subject: sub, email });
    const user = await users().findOne({ _id: identity!.userId });
    expect(user).toMatchObject({ oauthProvider: 'google', passwordHash: null, email });
    expect((await api.get('/api/auth/me', { token: response.body.tokens.accessToken })).body.user._id).toBe(String(identity!.userId));

    // The same provider account signs in to the same user.
    const again = await oauthLogin('google');
    expect(again.body.user._id).toBe(response.body.user._id);
    expect(await identities().countDocuments({ subject: sub })).toBe(1);
  });

  it('never merges into an existing account by an unverified e-mail', async () => {
    const victim = await register(api);
    google.profile = { sub: `g-${uid()}`, email: victim.email, email_verified: false, name: 'mallory' };
    const response = await oauthLogin('google');
    expect(response.status).toBe(200);
    expect(response.body.user._id).not.toBe(victim.id);
    expect(response.body.user.email).not.toBe(victim.email);
    expect(response.body.user.email).toMatch(/@users\.noreply\.invalid$/);
    expect(await identities().countDocuments({ userId: (await users().findOne({ email: victim.email }))!._id })).toBe(0);
  });

  it('links a provider account whose verified e-mail belongs to an existing user', async () => {
    const owner = await register(api);
    const sub = `g-${uid()}`;
    google.profile = { sub, email: owner.email.toUpperCase(), email_verified: true };
    const response = await oauthLogin('google');
    expect(response.body.user._id).toBe(owner.id);
    expect(String((await identities().findOne({ _id: `google:${sub}` as never }))!.userId)).toBe(owner.id);
  });

  it('refuses a wrong, missing or foreign state, and a tampered cookie, changing nothing', async () => {
    google.profile = { sub: `g-${uid()}`, email: `s.${uid()}@gmail.example`, email_verified: true };
    const { callbackPath, stateCookie, state } = await authorize('google');
    await expectNoChange(db, async () => {
      const wrongState = callbackPath.replace(`state=${state}`, `state=${state.slice(0, -4)}AAAA`);
      expectError(await api.get(wrongState, { headers: { Cookie: stateCookie } }), 400, 'VALIDATION_FAILED');
      expectError(await api.get(callbackPath.replace(`&state=${state}`, '').replace(`state=${state}&`, ''), { headers: { Cookie: stateCookie } }), 400, 'VALIDATION_FAILED');
      const missingCookie = await api.get(callbackPath);
      expectError(missingCookie, 400, 'VALIDATION_FAILED');
      expect(missingCookie.body.error.details).toEqual([{ path: 'state', message: 'does not match' }]);
      const [name, value] = stateCookie.split('=') as [string, string];
      const parts = decodeURIComponent(value).split('.');
      const tampered = `${name}=${encodeURIComponent([...parts.slice(0, 3), `${parts[3]!.slice(0, -2)}AA`].join('.'))}`;
      expectError(await api.get(callbackPath, { headers: { Cookie: tampered } }), 400, 'VALIDATION_FAILED');
      // A state bound to the Google login does not finish a GitHub one.
      expectError(await api.get(callbackPath.replace('/google/', '/github/'), { headers: { Cookie: stateCookie } }), 400, 'VALIDATION_FAILED');
    });
  });

  it('answers a provider refusal and unknown providers with the envelope', async () => {
    const { stateCookie, state } = await authorize('google');
    await expectNoChange(db, async () => {
      expectError(await api.get(`/api/auth/oauth/google/callback?error=access_denied&state=${state}`, { headers: { Cookie: stateCookie } }), 401, 'UNAUTHORIZED');
      expectError(await api.get('/api/auth/oauth/facebook'), 400, 'VALIDATION_FAILED');
      expectError(await api.get('/api/auth/oauth/google/callback?code=x&state=y&state=z'), 400, 'VALIDATION_FAILED');
    });
    expect((await api.get('/api/auth/oauth')).body).toEqual({ success: true, providers: ['google', 'github'] });
  });
});

describe('OAuth with GitHub (a local server with GitHub\'s endpoints)', () => {
  it('creates an account from /user and the verified primary address of /user/emails', async () => {
    const id = Math.floor(Math.random() * 1e9);
    const email = `octo.${uid()}@github.example`;
    github.account = { id, login: `octo-${uid()}`, emails: [{ email: 'old@github.example', primary: false, verified: true }, { email, primary: true, verified: true }] };
    const response = await oauthLogin('github');
    expect(response.status, JSON.stringify(response.body)).toBe(200);
    expect(response.body.user).toMatchObject({ username: github.account.login, email });
    expect(await identities().findOne({ _id: `github:${id}` as never })).toMatchObject({ provider: 'github', subject: String(id) });
    expect(await users().findOne({ email })).toMatchObject({ oauthProvider: 'github', passwordHash: null });
  });

  it('gives a taken username a suffix instead of failing', async () => {
    const taken = await register(api);
    github.account = { id: Math.floor(Math.random() * 1e9), login: taken.username, emails: [] };
    const response = await oauthLogin('github');
    expect(response.status).toBe(200);
    expect(response.body.user.username).toMatch(new RegExp(`^${taken.username}-[0-9a-f]{4}$`));
  });

  it('refuses a disabled account', async () => {
    const id = Math.floor(Math.random() * 1e9);
    github.account = { id, login: `gone-${uid()}`, emails: [] };
    const first = await oauthLogin('github');
    await users().updateOne({ username: github.account.login }, { $set: { disabled: true } });
    expect(first.status).toBe(200);
    expectError(await oauthLogin('github'), 403, 'FORBIDDEN');
  });
});

describe('OAuth for browsers (OAUTH_SUCCESS_URL set)', () => {
  it('lands the browser on the client page with the session in cookies, not in the URL', async () => {
    const landing = 'http://localhost:5173/after-login';
    const browserServer = await startChatd({ env: { BCRYPT_COST: '10', OAUTH_SUCCESS_URL: landing, ...google.env } });
    try {
      google.profile = { sub: `g-${uid()}`, email: `b.${uid()}@gmail.example`, email_verified: true };
      const { callbackPath, stateCookie } = await authorize('google', browserServer);
      const callback = await fetch(browserServer.baseUrl + callbackPath, { headers: { Cookie: stateCookie }, redirect: 'manual' });
      expect(callback.status).toBe(302);
      expect(callback.headers.get('location')).toBe(landing);
      const cookies = callback.headers.getSetCookie().map((line) => line.split('=')[0]);
      expect(cookies).toEqual(expect.arrayContaining(['chatd_access', 'chatd_refresh', 'chatd_csrf']));
      const access = callback.headers.getSetCookie().find((line) => line.startsWith('chatd_access='))!.split(';')[0]!;
      const me = await apiClient(browserServer.baseUrl).get('/api/auth/me', { headers: { Cookie: access } });
      expect(me.body.user.email).toBe(google.profile.email);
    } finally {
      await browserServer.stop();
    }
  });
});
