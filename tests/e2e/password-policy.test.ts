import type { Db, MongoClient } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectError, login, register, uniqueAccount } from '../support/accounts.js';
import { apiClient, type ApiClient, type ApiResponse } from '../support/api.js';
import { connectTestDb, startChatd, type ChatdServer } from '../support/chatd.js';
import { expectNoChange } from '../support/db-snapshot.js';

let server: ChatdServer;
let api: ApiClient;
let client: MongoClient;
let db: Db;

beforeAll(async () => {
  server = await startChatd({ env: { BCRYPT_COST: '10', RATE_LIMIT_REGISTER: '1000/15m' } });
  api = apiClient(server.baseUrl);
  ({ client, db } = await connectTestDb(server.mongoUri!));
});
afterAll(async () => {
  await client?.close();
  await server?.stop();
});

/** A 400 whose message and details say the password is guessable, and why. */
function expectGuessable(response: ApiResponse, field: string, why: RegExp): void {
  expectError(response, 400, 'VALIDATION_FAILED');
  expect(response.body.error.details).toEqual([{ path: field, message: expect.stringMatching(/^is too easy to guess/) }]);
  expect(response.body.error.details[0].message).toMatch(why);
  expect(response.body.error.message).toContain(`${field}: is too easy to guess`);
}

describe('new passwords that pass the composition rule but are easy to guess', () => {
  it('refuses Password1! at registration, saying it is a common password, and creates nothing', async () => {
    await expectNoChange(db, async () => {
      expectGuessable(await api.post('/api/auth/register', { ...uniqueAccount(), password: 'Password1!' }), 'password', /similar to a commonly used password/);
    });
  });

  it('refuses other common and breached-style passwords', async () => {
    await expectNoChange(db, async () => {
      for (const password of ['Qwerty123!', 'Welcome1!', 'P@ssw0rd2024', 'Summer2024!', 'Aa1!aaaaaaaa']) {
        expectGuessable(await api.post('/api/auth/register', { ...uniqueAccount(), password }), 'password', /\S/);
      }
    });
  });

  it('refuses a password built from the account\'s own name', async () => {
    const account = { ...uniqueAccount(), username: 'marigold_baker' };
    await expectNoChange(db, async () => {
      expectGuessable(await api.post('/api/auth/register', { ...account, password: 'Marigold_baker7!' }), 'password', /personal/);
    });
  });

  it('keeps the spec\'s composition rule: a long passphrase without a digit or a capital is still refused for that', async () => {
    await expectNoChange(db, async () => {
      const response = await api.post('/api/auth/register', { ...uniqueAccount(), password: 'violet-gull-lantern-quarry' });
      expectError(response, 400, 'VALIDATION_FAILED');
      expect(response.body.error.details).toEqual([
        { path: 'password', message: 'must contain an upper-case letter' },
        { path: 'password', message: 'must contain a digit' },
      ]);
    });
  });

  it('accepts a password that is hard to guess', async () => {
    const account = await register(api, { ...uniqueAccount(), password: 'Violet-gull-Lantern9' });
    await login(api, account.email, 'Violet-gull-Lantern9');
  });

  it('refuses Password1! as a changed password and keeps the old one', async () => {
    const account = await register(api);
    await expectNoChange(db, async () => {
      const response = await api.put('/api/auth/password', { currentPassword: account.password, newPassword: 'Password1!', confirmPassword: 'Password1!' }, { token: account.accessToken });
      expectGuessable(response, 'newPassword', /commonly used password/);
    });
    await login(api, account.email, account.password);
  });
});
