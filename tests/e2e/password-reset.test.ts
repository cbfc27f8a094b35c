import { createHash, randomBytes } from 'node:crypto';
import type { Db, MongoClient } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectError, login, register } from '../support/accounts.js';
import { apiClient, type ApiClient } from '../support/api.js';
import { connectTestDb, startChatd, type ChatdServer } from '../support/chatd.js';
import { expectNoChange, snapshot } from '../support/db-snapshot.js';
import { HubClient } from '../support/hub-client.js';
import { startSmtpSink } from '../support/smtp-sink.js';

let server: ChatdServer;
let api: ApiClient;
let client: MongoClient;
let db: Db;
let smtp: Awaited<ReturnType<typeof startSmtpSink>>;

const limits = { BCRYPT_COST: '10', RATE_LIMIT_LOGIN: '1000/15m', RATE_LIMIT_REGISTER: '1000/15m', RATE_LIMIT_PASSWORD: '1000/15m' };

beforeAll(async () => {
  smtp = await startSmtpSink();
  server = await startChatd({ env: { ...limits, SMTP_URL: smtp.url, SMTP_FROM: 'chatd <chatd@example.test>' } });
  api = apiClient(server.baseUrl);
  ({ client, db } = await connectTestDb(server.mongoUri!));
});
afterAll(async () => {
  await client?.close();
  await server?.stop();
  await smtp?.stop();
});

const NEW_PASSWORD = 'R3set!password';
const tokenIn = (text: string) => /reset-password\?token=([A-Za-z0-9_-]+)/.exec(text)?.[1];

/** Asks for a reset and returns the token from the mail the SMTP sink received. */
async function requestReset(email: string): Promise<string> {
  const response = await api.post('/api/auth/password/forgot', { email: email.toUpperCase() });
  expect(response.status).toBe(200);
  const mail = await smtp.next((m) => m.to.includes(email) && !m.text.includes('already-read'));
  mail.text += 'already-read';
  return tokenIn(mail.text)!;
}

describe('password reset by mail', () => {
  it('mails a single-use link to a registered address and stores only a hash of the token', async () => {
    const account = await register(api);
    const response = await api.post('/api/auth/password/forgot', { email: account.email });
    expect(response.body).toEqual({ success: true, message: 'If that e-mail is registered, a reset link is on its way' });
    const mail = await smtp.next((m) => m.to.includes(account.email));
    expect(mail.from).toBe('chatd@example.test');
    expect(mail.raw).toMatch(/Subject: Reset your chatd password/);
    const token = tokenIn(mail.text)!;
    expect(mail.text).toContain(`http://localhost:${server.httpPort}/reset-password?token=${token}`);
    const entry = await db.collection('tokens').findOne({ _id: `reset:${createHash('sha256').update(token).digest('hex')}` as never });
    expect(entry).toMatchObject({ kind: 'password-reset' });
    const minutesLeft = (entry!.expiresAt.getTime() - Date.now()) / 60_000;
    expect(minutesLeft).toBeGreaterThan(29);
    expect(minutesLeft).toBeLessThanOrEqual(30);
    expect(await snapshot(db)).not.toContain(token);
  });

  it('answers an unknown address exactly the same, sends nothing and stores nothing', async () => {
    const mailsBefore = smtp.mails.length;
    await expectNoChange(db, async () => {
      const response = await api.post('/api/auth/password/forgot', { email: `nobody.${randomBytes(3).toString('hex')}@example.test` });
      expect(response.status).toBe(200);
      expect(response.body).toEqual({ success: true, message: 'If that e-mail is registered, a reset link is on its way' });
    });
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(smtp.mails.length).toBe(mailsBefore);
  });

  it('resets the password, ends every session and closes WebSockets; the token works once', async () => {
    const account = await register(api);
    const socket = await HubClient.connect(server.wsUrl, { token: account.accessToken });
    const token = await requestReset(account.email);
    const response = await api.post('/api/auth/password/reset', { token, newPassword: NEW_PASSWORD, confirmPassword: NEW_PASSWORD });
    expect(response.status).toBe(200);
    expect(response.body.success).toBe(true);
    expect((await socket.closed).code).toBe(1008);
    expectError(await api.get('/api/auth/me', { token: account.accessToken }), 401, 'UNAUTHORIZED');
    expectError(await api.post('/api/auth/refresh', { refreshToken: account.refreshToken }), 401, 'UNAUTHORIZED');
    expectError(await api.post('/api/auth/login', { email: account.email, password: account.password }), 401, 'UNAUTHORIZED');
    await login(api, account.email, NEW_PASSWORD);

    await expectNoChange(db, async () => {
      const reused = await api.post('/api/auth/password/reset', { token, newPassword: 'An0ther!password', confirmPassword: 'An0ther!password' });
      expectError(reused, 400, 'VALIDATION_FAILED');
      expect(reused.body.error.details).toEqual([{ path: 'token', message: 'is invalid or expired' }]);
    });
  });

  it('lets exactly one of several simultaneous resets with one token through', async () => {
    const account = await register(api);
    const token = await requestReset(account.email);
    const responses = await Promise.all(
      ['Fir5t!pass', 'Sec0nd!pass', 'Th1rd!pass', 'Fourt4!pass'].map((password) => api.post('/api/auth/password/reset', { token, newPassword: password, confirmPassword: password })),
    );
    expect(responses.filter((r) => r.status === 200)).toHaveLength(1);
    for (const r of responses.filter((r) => r.status !== 200)) expectError(r, 400, 'VALIDATION_FAILED');
  });

  it('refuses expired and unknown tokens, changing nothing', async () => {
    const account = await register(api);
    const expired = randomBytes(32).toString('base64url');
    const userId = (await db.collection('users').findOne({ email: account.email }))!._id;
    await db.collection('tokens').insertOne({ _id: `reset:${createHash('sha256').update(expired).digest('hex')}` as never, kind: 'password-reset', userId, expiresAt: new Date(Date.now() - 1000), createdAt: new Date(Date.now() - 31 * 60_000) });
    await expectNoChange(db, async () => {
      for (const token of [expired, randomBytes(32).toString('base64url')]) {
        expectError(await api.post('/api/auth/password/reset', { token, newPassword: NEW_PASSWORD, confirmPassword: NEW_PASSWORD }), 400, 'VALIDATION_FAILED');
      }
    });
    await login(api, account.email, account.password);
  });

  it('refuses operator injection, mismatched or weak passwords and unknown fields, changing nothing', async () => {
    const account = await register(api);
    const token = await requestReset(account.email);
    await expectNoChange(db, async () => {
      for (const body of [
        { token: { $ne: '' }, newPassword: NEW_PASSWORD, confirmPassword: NEW_PASSWORD },
        { token: { $gt: '' }, newPassword: NEW_PASSWORD, confirmPassword: NEW_PASSWORD },
        { token: [token], newPassword: NEW_PASSWORD, confirmPassword: NEW_PASSWORD },
        { token, newPassword: { $ne: '' }, confirmPassword: NEW_PASSWORD },
        { token, newPassword: NEW_PASSWORD, confirmPassword: { $ne: '' } },
        { token, newPassword: NEW_PASSWORD, confirmPassword: 'R3set!passworx' },
        { token, newPassword: 'weakpass', confirmPassword: 'weakpass' },
        { token, newPassword: `Aa1!${'w'.repeat(70)}`, confirmPassword: `Aa1!${'w'.repeat(70)}` },
        { token, newPassword: NEW_PASSWORD, confirmPassword: NEW_PASSWORD, userId: 'x' },
        { token: 'short', newPassword: NEW_PASSWORD, confirmPassword: NEW_PASSWORD },
      ]) {
        expectError(await api.post('/api/auth/password/reset', body), 400, 'VALIDATION_FAILED');
      }
      for (const email of [{ $gt: '' }, { $regex: '.*' }, ['a@example.test'], 'not-an-email']) {
        expectError(await api.post('/api/auth/password/forgot', { email }), 400, 'VALIDATION_FAILED');
      }
    });
    // The token survived all of that and still works.
    expect((await api.post('/api/auth/password/reset', { token, newPassword: NEW_PASSWORD, confirmPassword: NEW_PASSWORD })).status).toBe(200);
  });
});

describe('password reset without SMTP', () => {
  it('writes the link to the log with a warning', async () => {
    const quiet = await startChatd({ env: limits });
    try {
      const quietApi = apiClient(quiet.baseUrl);
      const account = await register(quietApi);
      expect((await quietApi.post('/api/auth/password/forgot', { email: account.email })).status).toBe(200);
      const deadline = Date.now() + 10_000;
      let line: Record<string, unknown> | undefined;
      while (!line && Date.now() < deadline) {
        line = quiet.logs.map((l) => (l.startsWith('{') ? JSON.parse(l) : {})).find((entry) => entry.to === account.email);
        if (!line) await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect(line).toMatchObject({ level: 40, component: 'mail', subject: 'Reset your chatd password' });
      expect(line!.msg).toMatch(/SMTP_URL is not set/);
      const token = tokenIn(String(line!.msg))!;
      expect((await quietApi.post('/api/auth/password/reset', { token, newPassword: NEW_PASSWORD, confirmPassword: NEW_PASSWORD })).status).toBe(200);
    } finally {
      await quiet.stop();
    }
  });
});
