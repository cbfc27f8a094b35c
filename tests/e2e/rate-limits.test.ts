import type { Db, MongoClient } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectError, register, uniqueAccount } from '../support/accounts.js';
import { apiClient, type ApiClient, type ApiResponse } from '../support/api.js';
import { connectTestDb, startChatd, type ChatdServer } from '../support/chatd.js';
import { expectNoChange } from '../support/db-snapshot.js';

let proxied: ChatdServer;
let direct: ChatdServer;
let api: ApiClient;
let directApi: ApiClient;
let client: MongoClient;
let db: Db;

beforeAll(async () => {
  // One after the other: free ports are picked per start, two starts at once may pick the same.
  // Behind a proxy: each test speaks from its own addresses through X-Forwarded-For.
  proxied = await startChatd({ env: { BCRYPT_COST: '10', TRUST_PROXY: 'true', RATE_LIMIT_REGISTER: '3/15m', RATE_LIMIT_REFRESH: '3/15m', RATE_LIMIT_PASSWORD: '2/15m' } });
  direct = await startChatd({ env: { BCRYPT_COST: '10', TRUST_PROXY: 'false', RATE_LIMIT_LOGIN: '2/1m' } });
  api = apiClient(proxied.baseUrl);
  directApi = apiClient(direct.baseUrl);
  ({ client, db } = await connectTestDb(proxied.mongoUri!));
});
afterAll(async () => {
  await client?.close();
  await Promise.all([proxied?.stop(), direct?.stop()]);
});

let nextAddress = 1;
/** A fresh client address for each caller. */
const from = () => ({ 'X-Forwarded-For': `10.0.${Math.floor(nextAddress / 250)}.${nextAddress++ % 250}` });

function expectRateLimited(response: ApiResponse, windowSeconds: number): void {
  expectError(response, 429, 'RATE_LIMITED');
  const retryAfter = Number(response.headers.get('retry-after'));
  expect(Number.isInteger(retryAfter)).toBe(true);
  expect(retryAfter).toBeGreaterThanOrEqual(1);
  expect(retryAfter).toBeLessThanOrEqual(windowSeconds);
}

describe('login limits (5 failures per 15 minutes)', () => {
  it('answers the 6th failed login from one address within a minute with 429 and Retry-After, changing nothing', async () => {
    const account = await register(api, uniqueAccount(), from());
    const address = from();
    await expectNoChange(db, async () => {
      for (let i = 0; i < 5; i++) expectError(await api.post('/api/auth/login', { email: account.email, password: 'Wr0ng!pass' }, { headers: address }), 401, 'UNAUTHORIZED');
      expectRateLimited(await api.post('/api/auth/login', { email: account.email, password: 'Wr0ng!pass' }, { headers: address }), 900);
      // While limited, even the right password is not checked from there.
      expectRateLimited(await api.post('/api/auth/login', { email: account.email, password: account.password }, { headers: address }), 900);
    });
  });

  it('limits one account across many addresses', async () => {
    const account = await register(api, uniqueAccount(), from());
    for (let i = 0; i < 5; i++) expectError(await api.post('/api/auth/login', { email: account.email, password: 'Wr0ng!pass' }, { headers: from() }), 401, 'UNAUTHORIZED');
    expectRateLimited(await api.post('/api/auth/login', { email: account.email.toUpperCase(), password: 'Wr0ng!pass' }, { headers: from() }), 900);
    // Another account from a fresh address is unaffected.
    const other = await register(api, uniqueAccount(), from());
    expect((await api.post('/api/auth/login', { email: other.email, password: other.password }, { headers: from() })).status).toBe(200);
  });

  it('does not count successful logins, and a success clears the account\'s failures', async () => {
    const account = await register(api, uniqueAccount(), from());
    const address = from();
    for (let i = 0; i < 8; i++) expect((await api.post('/api/auth/login', { email: account.email, password: account.password }, { headers: address })).status).toBe(200);
    for (let i = 0; i < 4; i++) expectError(await api.post('/api/auth/login', { email: account.email, password: 'Wr0ng!pass' }, { headers: from() }), 401, 'UNAUTHORIZED');
    expect((await api.post('/api/auth/login', { email: account.email, password: account.password }, { headers: from() })).status).toBe(200);
    for (let i = 0; i < 4; i++) expectError(await api.post('/api/auth/login', { email: account.email, password: 'Wr0ng!pass' }, { headers: from() }), 401, 'UNAUTHORIZED');
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
    expectRateLimited(await api.post('/api/auth/login', { email: account.email, password: account.password }, { headers: { 'X-Forwarded-For': `198.51.100.7, ${proxyAddress}` } }), 900);
  });

  it('ignores X-Forwarded-For unless TRUST_PROXY is set', async () => {
    for (let i = 0; i < 2; i++) {
      expectError(await directApi.post('/api/auth/login', { email: `x${i}@example.test`, password: 'Wr0ng!pass' }, { headers: from() }), 401, 'UNAUTHORIZED');
    }
    expectRateLimited(await directApi.post('/api/auth/login', { email: 'x9@example.test', password: 'Wr0ng!pass' }, { headers: from() }), 60);
  });
});

describe('other limits, each configured on its own', () => {
  it('limits registrations per address (RATE_LIMIT_REGISTER=3/15m), creating nothing past it', async () => {
    const address = from();
    for (let i = 0; i < 3; i++) await register(api, uniqueAccount(), address);
    await expectNoChange(db, async () => {
      expectRateLimited(await api.post('/api/auth/register', uniqueAccount(), { headers: address }), 900);
    });
  });

  it('limits failed refreshes per address (RATE_LIMIT_REFRESH=3/15m)', async () => {
    const address = from();
    for (let i = 0; i < 3; i++) expectError(await api.post('/api/auth/refresh', { refreshToken: 'not.a.token' }, { headers: address }), 401, 'UNAUTHORIZED');
    expectRateLimited(await api.post('/api/auth/refresh', { refreshToken: 'not.a.token' }, { headers: address }), 900);
  });

  it('limits password-reset requests per address (RATE_LIMIT_PASSWORD=2/15m)', async () => {
    const address = from();
    for (let i = 0; i < 2; i++) expect((await api.post('/api/auth/password/forgot', { email: `n${i}@example.test` }, { headers: address })).status).toBe(200);
    expectRateLimited(await api.post('/api/auth/password/forgot', { email: 'n9@example.test' }, { headers: address }), 900);
  });
});
