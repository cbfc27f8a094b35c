import type { Db, MongoClient } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectError, login, register, uniqueAccount } from '../support/accounts.js';
import { apiClient, type ApiClient, type ApiResponse } from '../support/api.js';
import { connectTestDb, startChatd, type ChatdServer } from '../support/chatd.js';
import { expectNoChange } from '../support/db-snapshot.js';

let proxied: ChatdServer;
let direct: ChatdServer;
let api: ApiClient;
let directApi: ApiClient;
let client: MongoClient;
let db: Db;
let directClient: MongoClient;
let directDb: Db;

beforeAll(async () => {
  // One after the other: free ports are picked per start, two starts at once may pick the same.
  // Behind a proxy: each test speaks from its own addresses through X-Forwarded-For.
  proxied = await startChatd({
    env: { BCRYPT_COST: '10', TRUST_PROXY: 'true', RATE_LIMIT_LOGIN_ACCOUNT: '5/15m', RATE_LIMIT_REGISTER: '3/15m', RATE_LIMIT_REFRESH: '3/15m', RATE_LIMIT_PASSWORD: '2/15m' },
  });
  direct = await startChatd({ env: { BCRYPT_COST: '10', TRUST_PROXY: 'false', RATE_LIMIT_LOGIN: '2/1m' } });
  api = apiClient(proxied.baseUrl);
  directApi = apiClient(direct.baseUrl);
  ({ client, db } = await connectTestDb(proxied.mongoUri!));
  ({ client: directClient, db: directDb } = await connectTestDb(direct.mongoUri!));
});
afterAll(async () => {
  await Promise.all([client?.close(), directClient?.close()]);
  await Promise.all([proxied?.stop(), direct?.stop()]);
});

let nextAddress = 1;
/** A fresh client address for each caller. */
const from = () => ({ 'X-Forwarded-For': `10.0.${Math.floor(nextAddress / 250)}.${nextAddress++ % 250}` });

/** A 429 that says when to retry (Retry-After, and in the body for clients that do not read headers) and which setting sets the limit. */
function expectRateLimited(response: ApiResponse, windowSeconds: number, setting: string): void {
  expectError(response, 429, 'RATE_LIMITED');
  const retryAfter = Number(response.headers.get('retry-after'));
  expect(Number.isInteger(retryAfter)).toBe(true);
  expect(retryAfter).toBeGreaterThanOrEqual(1);
  expect(retryAfter).toBeLessThanOrEqual(windowSeconds);
  expect(response.body.error).toMatchObject({ retryAfter, setting });
  expect(response.body.error.message).toContain(`set by ${setting}`);
  expect(response.body.error.message).toMatch(/Try again in \d+ (seconds?|minutes?|hours?)\./);
}

// bcrypt on every attempt, and a restart: on a busy two-core machine these take well over the default 30 s.
describe('login limits (5 failures per 15 minutes per address, 5 per account from new addresses here)', { timeout: 120_000 }, () => {
  it('answers the 6th failed login from one address within a minute with 429 and Retry-After, changing nothing', async () => {
    const account = await register(api, uniqueAccount(), from());
    const address = from();
    await expectNoChange(db, async () => {
      for (let i = 0; i < 5; i++) expectError(await api.post('/api/auth/login', { email: account.email, password: 'Wr0ng!pass' }, { headers: address }), 401, 'UNAUTHORIZED');
      expectRateLimited(await api.post('/api/auth/login', { email: account.email, password: 'Wr0ng!pass' }, { headers: address }), 900, 'RATE_LIMIT_LOGIN');
      // While limited, even the right password is not checked from there.
      expectRateLimited(await api.post('/api/auth/login', { email: account.email, password: account.password }, { headers: address }), 900, 'RATE_LIMIT_LOGIN');
    });
  });

  it('limits one account across many new addresses (RATE_LIMIT_LOGIN_ACCOUNT)', async () => {
    const account = await register(api, uniqueAccount(), from());
    for (let i = 0; i < 5; i++) expectError(await api.post('/api/auth/login', { email: account.email, password: 'Wr0ng!pass' }, { headers: from() }), 401, 'UNAUTHORIZED');
    expectRateLimited(await api.post('/api/auth/login', { email: account.email.toUpperCase(), password: 'Wr0ng!pass' }, { headers: from() }), 900, 'RATE_LIMIT_LOGIN_ACCOUNT');
    // Another account from a fresh address is unaffected.
    const other = await register(api, uniqueAccount(), from());
    expect((await api.post('/api/auth/login', { email: other.email, password: other.password }, { headers: from() })).status).toBe(200);
  });

  it('cannot be turned into a lock-out of the owner: guesses from many addresses leave the owner\'s own address working', async () => {
    const account = await register(api, uniqueAccount(), from());
    const home = from();
    await login(api, account.email, account.password, home);
    // An attacker spreads guesses over fresh addresses until the account limit holds them back.
    for (let i = 0; i < 5; i++) expectError(await api.post('/api/auth/login', { email: account.email, password: 'Wr0ng!pass' }, { headers: from() }), 401, 'UNAUTHORIZED');
    for (let i = 0; i < 5; i++) expectRateLimited(await api.post('/api/auth/login', { email: account.email, password: 'Wr0ng!pass' }, { headers: from() }), 900, 'RATE_LIMIT_LOGIN_ACCOUNT');
    // The owner, from where they signed in before, still gets in; a typo there counts only against that address.
    expectError(await api.post('/api/auth/login', { email: account.email, password: 'Wr0ng!pass' }, { headers: home }), 401, 'UNAUTHORIZED');
    await login(api, account.email, account.password, home);
    // The attacker is still held back.
    expectRateLimited(await api.post('/api/auth/login', { email: account.email, password: account.password }, { headers: from() }), 900, 'RATE_LIMIT_LOGIN_ACCOUNT');
  });

  it('remembers the owner\'s addresses across a restart (limits on the embedded database start afresh, where they signed in does not)', async () => {
    const env = { BCRYPT_COST: '10', TRUST_PROXY: 'true', RATE_LIMIT_LOGIN_ACCOUNT: '5/15m' };
    const before = await startChatd({ env, startTimeoutMs: 120_000 });
    let after: ChatdServer | undefined;
    try {
      const beforeApi = apiClient(before.baseUrl);
      const account = await register(beforeApi, uniqueAccount(), from());
      const home = from();
      await login(beforeApi, account.email, account.password, home);
      await before.stop();
      after = await startChatd({ env, mongoUri: before.mongoUri, startTimeoutMs: 120_000 });
      const afterApi = apiClient(after.baseUrl);
      for (let i = 0; i < 5; i++) expectError(await afterApi.post('/api/auth/login', { email: account.email, password: 'Wr0ng!pass' }, { headers: from() }), 401, 'UNAUTHORIZED');
      expectRateLimited(await afterApi.post('/api/auth/login', { email: account.email, password: 'Wr0ng!pass' }, { headers: from() }), 900, 'RATE_LIMIT_LOGIN_ACCOUNT');
      await login(afterApi, account.email, account.password, home);
    } finally {
      await Promise.all([before.stop(), after?.stop()]);
    }
  }, 300_000);

  it('does not count successful logins, and a success does not wipe the guesses counted against the account', async () => {
    const account = await register(api, uniqueAccount(), from());
    const address = from();
    for (let i = 0; i < 8; i++) expect((await api.post('/api/auth/login', { email: account.email, password: account.password }, { headers: address })).status).toBe(200);
    for (let i = 0; i < 4; i++) expectError(await api.post('/api/auth/login', { email: account.email, password: 'Wr0ng!pass' }, { headers: from() }), 401, 'UNAUTHORIZED');
    expect((await api.post('/api/auth/login', { email: account.email, password: account.password }, { headers: from() })).status).toBe(200);
    expectError(await api.post('/api/auth/login', { email: account.email, password: 'Wr0ng!pass' }, { headers: from() }), 401, 'UNAUTHORIZED');
    expectRateLimited(await api.post('/api/auth/login', { email: account.email, password: 'Wr0ng!pass' }, { headers: from() }), 900, 'RATE_LIMIT_LOGIN_ACCOUNT');
  });

  it('counts parallel guesses exactly: of 20 at once, at most 5 are checked', async () => {
    const account = await register(api, uniqueAccount(), from());
    const address = from();
    const responses = await Promise.all(Array.from({ length: 20 }, () => api.post('/api/auth/login', { email: account.email, password: 'Wr0ng!pass' }, { headers: address })));
    expect(responses.filter((r) => r.status === 401)).toHaveLength(5);
    expect(responses.filter((r) => r.status === 429)).toHaveLength(15);
  });

  it('takes the address a trusted proxy appended (the last X-Forwarded-For entry), not what the client put before it', async () => {
    const account = await register(api, uniqueAccount(), from());
    const proxyAddress = from()['X-Forwarded-For'];
    for (let i = 0; i < 5; i++) {
      const spoofed = { 'X-Forwarded-For': `203.0.113.${i}, ${proxyAddress}` };
      expectError(await api.post('/api/auth/login', { email: `nobody${i}@example.test`, password: 'Wr0ng!pass' }, { headers: spoofed }), 401, 'UNAUTHORIZED');
    }
    expectRateLimited(await api.post('/api/auth/login', { email: account.email, password: account.password }, { headers: { 'X-Forwarded-For': `198.51.100.7, ${proxyAddress}` } }), 900, 'RATE_LIMIT_LOGIN');
  });

  it('ignores X-Forwarded-For unless TRUST_PROXY is set', async () => {
    for (let i = 0; i < 2; i++) {
      expectError(await directApi.post('/api/auth/login', { email: `x${i}@example.test`, password: 'Wr0ng!pass' }, { headers: from() }), 401, 'UNAUTHORIZED');
    }
    expectRateLimited(await directApi.post('/api/auth/login', { email: 'x9@example.test', password: 'Wr0ng!pass' }, { headers: from() }), 60, 'RATE_LIMIT_LOGIN');
  });
});

describe('other limits, each configured on its own', { timeout: 120_000 }, () => {
  it('limits registrations per address (RATE_LIMIT_REGISTER=3/15m), creating nothing past it', async () => {
    const address = from();
    for (let i = 0; i < 3; i++) await register(api, uniqueAccount(), address);
    await expectNoChange(db, async () => {
      expectRateLimited(await api.post('/api/auth/register', uniqueAccount(), { headers: address }), 900, 'RATE_LIMIT_REGISTER');
    });
  });

  it('limits failed refreshes per address (RATE_LIMIT_REFRESH=3/15m)', async () => {
    const address = from();
    for (let i = 0; i < 3; i++) expectError(await api.post('/api/auth/refresh', { refreshToken: 'not.a.token' }, { headers: address }), 401, 'UNAUTHORIZED');
    expectRateLimited(await api.post('/api/auth/refresh', { refreshToken: 'not.a.token' }, { headers: address }), 900, 'RATE_LIMIT_REFRESH');
  });

  it('limits password-reset requests per address (RATE_LIMIT_PASSWORD=2/15m)', async () => {
    const address = from();
    for (let i = 0; i < 2; i++) expect((await api.post('/api/auth/password/forgot', { email: `n${i}@example.test` }, { headers: address })).status).toBe(200);
    expectRateLimited(await api.post('/api/auth/password/forgot', { email: 'n9@example.test' }, { headers: address }), 900, 'RATE_LIMIT_PASSWORD');
  });

  it('lets a household or a class behind one address sign up by default (RATE_LIMIT_REGISTER=30/1h)', async () => {
    // `direct` runs with the default register limit; all its callers share 127.0.0.1.
    for (let i = 0; i < 30; i++) await register(directApi, uniqueAccount('family'));
    await expectNoChange(directDb, async () => {
      expectRateLimited(await directApi.post('/api/auth/register', uniqueAccount('family')), 3600, 'RATE_LIMIT_REGISTER');
    });
  });
});
