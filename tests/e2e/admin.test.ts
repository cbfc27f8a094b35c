import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ObjectId, type Db, type MongoClient } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectError, login, register, uniqueAccount } from '../support/accounts.js';
import { apiClient, type ApiClient } from '../support/api.js';
import { connectTestDb, runChatd, runChatdInTerminal, startChatd, TEST_JWT_REFRESH_SECRET, TEST_JWT_SECRET, type ChatdServer, type TerminalAnswer } from '../support/chatd.js';
import { expectNoChange } from '../support/db-snapshot.js';
import { createUser } from '../support/factories.js';
import { HubClient } from '../support/hub-client.js';

let server: ChatdServer;
let api: ApiClient;
let client: MongoClient;
let db: Db;
let admin: Awaited<ReturnType<typeof createUser>>;

beforeAll(async () => {
  server = await startChatd({
    env: {
      BCRYPT_COST: '10',
      RATE_LIMIT_LOGIN: '1000/15m',
      RATE_LIMIT_REGISTER: '1000/15m',
      AUTH_CACHE_SECONDS: '1',
      SESSION_RECHECK_SECONDS: '1',
      TOKEN_SWEEP_CRON: '* * * * * *',
    },
  });
  api = apiClient(server.baseUrl);
  ({ client, db } = await connectTestDb(server.mongoUri!));
  admin = await createUser(db, { role: 'admin' });
});
afterAll(async () => {
  await client?.close();
  await server?.stop();
});

// Each CLI run is a fresh Node process; on a busy two-core machine that takes seconds.
const CLI_TIMEOUT = 180_000;
const asAdmin = () => ({ token: admin.token });
const user = async (id: string) => (await db.collection('users').findOne({ _id: new ObjectId(id) }))!;

const adminEnv = () => ({ MONGODB_URI: server.mongoUri, JWT_SECRET: TEST_JWT_SECRET, JWT_REFRESH_SECRET: TEST_JWT_REFRESH_SECRET, BCRYPT_COST: '10', PUBLIC_URL: `http://localhost:${server.httpPort}` });

/** Runs `chatd admin ...` in its own process against the server's database (no terminal: stdin and stdout are pipes). */
function chatdAdmin(args: string[], input?: string) {
  return runChatd(['admin', ...args], { cwd: mkdtempSync(join(tmpdir(), 'chatd-admin-')), input, env: adminEnv() });
}

/** The same on a terminal, typing `answers` as their prompts show. */
function chatdAdminOnTerminal(args: string[], answers: TerminalAnswer[] = []) {
  return runChatdInTerminal(['admin', ...args], { cwd: mkdtempSync(join(tmpdir(), 'chatd-admin-')), answers, env: adminEnv(), timeoutMs: CLI_TIMEOUT });
}

describe('admin API', () => {
  it('is for administrators only', async () => {
    const member = await createUser(db);
    expectError(await api.get('/api/admin/users'), 401, 'UNAUTHORIZED');
    expectError(await api.get('/api/admin/users', { token: member.token }), 403, 'FORBIDDEN');
    await expectNoChange(db, async () => {
      expectError(await api.post(`/api/admin/users/${admin.id}/disable`, undefined, { token: member.token }), 403, 'FORBIDDEN');
      expectError(await api.put(`/api/admin/users/${member.id}/role`, { role: 'admin' }, { token: member.token }), 403, 'FORBIDDEN');
    });
  });

  it('lists users with moderation fields, searching username or e-mail, a page at a time', async () => {
    const tag = `adm${new ObjectId().toHexString().slice(-6)}`;
    const a = await createUser(db, { username: `${tag}_a` });
    const b = await createUser(db, { username: `${tag}_b`, disabled: true });
    const page = await api.get(`/api/admin/users?search=${tag}&limit=1`, asAdmin());
    expect(page.status).toBe(200);
    expect(page.body).toMatchObject({ success: true, page: 1, limit: 1, hasMore: true, users: [{ _id: a.id, email: a.email, role: 'user', disabled: false, hasPassword: false }] });
    const next = await api.get(`/api/admin/users?search=${tag}&limit=1&page=2`, asAdmin());
    expect(next.body.users).toMatchObject([{ _id: b.id, disabled: true }]);
    const byEmail = await api.get(`/api/admin/users?search=${encodeURIComponent(a.email)}`, asAdmin());
    expect(byEmail.body.users.map((u: { _id: string }) => u._id)).toEqual([a.id]);
    expect(JSON.stringify(page.body)).not.toMatch(/passwordHash|sessionsValidAfter/);
    expectError(await api.get('/api/admin/users?limit=abc', asAdmin()), 400, 'VALIDATION_FAILED');
  });

  it('disables a user: login refused, tokens and refresh stop, WebSockets closed with 1008; enable lets them log in again', async () => {
    const account = await register(api);
    const socket = await HubClient.connect(server.wsUrl, { token: account.accessToken });
    const response = await api.post(`/api/admin/users/${account.id}/disable`, undefined, asAdmin());
    expect(response.status).toBe(200);
    expect(response.body.user).toMatchObject({ _id: account.id, disabled: true });
    expect((await socket.closed).code).toBe(1008);
    expectError(await api.get('/api/auth/me', { token: account.accessToken }), 401, 'UNAUTHORIZED');
    expectError(await api.post('/api/auth/refresh', { refreshToken: account.refreshToken }), 401, 'UNAUTHORIZED');
    const refused = await api.post('/api/auth/login', { email: account.email, password: account.password });
    expectError(refused, 403, 'FORBIDDEN');
    expect(await HubClient.refused(server.wsUrl, { token: account.accessToken })).toMatchObject({ error: { data: { code: 'UNAUTHORIZED' } }, close: { code: 1008 } });

    expect((await api.post(`/api/admin/users/${account.id}/enable`, undefined, asAdmin())).body.user.disabled).toBe(false);
    const again = await login(api, account.email, account.password);
    expect((await api.get('/api/auth/me', { token: again.accessToken })).status).toBe(200);
    // Enabling does not bring back the tokens that disabling revoked.
    expectError(await api.get('/api/auth/me', { token: account.accessToken }), 401, 'UNAUTHORIZED');
  });

  it('sets roles; the new role applies to existing tokens', async () => {
    const member = await createUser(db);
    expectError(await api.get('/api/admin/users', { token: member.token }), 403, 'FORBIDDEN');
    const promoted = await api.put(`/api/admin/users/${member.id}/role`, { role: 'admin' }, asAdmin());
    expect(promoted.body.user.role).toBe('admin');
    await new Promise((resolve) => setTimeout(resolve, 1100));
    expect((await api.get('/api/admin/users', { token: member.token })).status).toBe(200);
    expect((await api.put(`/api/admin/users/${member.id}/role`, { role: 'user' }, asAdmin())).body.user.role).toBe('user');
  });

  it('refuses bad ids, bad roles, unknown users and locking yourself out, changing nothing', async () => {
    const member = await createUser(db);
    await expectNoChange(db, async () => {
      expectError(await api.post('/api/admin/users/xyz/disable', undefined, asAdmin()), 400, 'VALIDATION_FAILED');
      expectError(await api.post(`/api/admin/users/${new ObjectId().toHexString()}/disable`, undefined, asAdmin()), 404, 'NOT_FOUND');
      expectError(await api.put(`/api/admin/users/${member.id}/role`, { role: 'superuser' }, asAdmin()), 400, 'VALIDATION_FAILED');
      expectError(await api.put(`/api/admin/users/${member.id}/role`, { role: { $ne: 'user' } }, asAdmin()), 400, 'VALIDATION_FAILED');
      expectError(await api.put(`/api/admin/users/${member.id}/role`, { role: 'admin', disabled: true }, asAdmin()), 400, 'VALIDATION_FAILED');
      expectError(await api.post(`/api/admin/users/${admin.id}/disable`, undefined, asAdmin()), 403, 'FORBIDDEN');
      expectError(await api.put(`/api/admin/users/${admin.id}/role`, { role: 'user' }, asAdmin()), 403, 'FORBIDDEN');
    });
  });
});

describe('chatd admin (CLI)', () => {
  it('creates an administrator from flags and a password on stdin', async () => {
    const input = uniqueAccount('cli');
    const result = await chatdAdmin(['create', '--username', input.username, '--email', input.email.toUpperCase(), '--password-stdin'], `${input.password}\n`);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(new RegExp(`^created administrator ${input.username} <${input.email}> \\(admin, id [0-9a-f]{24}\\)`));
    const session = await login(api, input.email, input.password);
    expect((await api.get('/api/admin/users', { token: session.accessToken })).status).toBe(200);
    const stored = await db.collection('users').findOne({ email: input.email });
    expect(stored!.passwordHash).toMatch(/^\$2[aby]\$10\$/);
  }, CLI_TIMEOUT);

  it('never prompts without a terminal: missing values are one-line errors with exit code 1 and nothing is created', async () => {
    const input = uniqueAccount('cli');
    await expectNoChange(db, async () => {
      const noPassword = await chatdAdmin(['create', '--username', input.username, '--email', input.email]);
      expect(noPassword.code).toBe(1);
      expect(noPassword.stderr.split('\n')[0]).toBe('chatd: a password is required: give --password-stdin or --password (no terminal to ask on)');
      const noUsername = await chatdAdmin(['create', '--email', input.email, '--password', input.password]);
      expect(noUsername.code).toBe(1);
      expect(noUsername.stderr.split('\n')[0]).toBe('chatd: --username is required (no terminal to ask on)');
      const noEmail = await chatdAdmin(['create', '--username', input.username, '--password-stdin'], `${input.password}\n`);
      expect(noEmail.code).toBe(1);
      expect(noEmail.stderr.split('\n')[0]).toBe('chatd: --email is required (standard input carries the password: nothing is asked)');
      const both = await chatdAdmin(['create', '--username', input.username, '--email', input.email, '--password', input.password, '--password-stdin'], `${input.password}\n`);
      expect(both.code).toBe(1);
      expect(both.stderr.split('\n')[0]).toBe('chatd: --password and --password-stdin contradict each other; pick one');
      const weak = await chatdAdmin(['create', '--username', input.username, '--email', input.email, '--password', 'weak']);
      expect(weak.code).toBe(1);
      expect(weak.stderr.split('\n')[0]).toMatch(/^chatd: password must be at least 8 characters/);
      const badEmail = await chatdAdmin(['create', '--username', input.username, '--email', 'nope', '--password', input.password]);
      expect(badEmail.code).toBe(1);
      expect(badEmail.stderr.split('\n')[0]).toBe('chatd: --email must be an e-mail address (got "nope")');
      const taken = await chatdAdmin(['create', '--username', input.username, '--email', admin.email, '--password', input.password]);
      expect(taken.code).toBe(1);
      expect(taken.stderr.split('\n')[0]).toBe('chatd: That e-mail is already registered (email)');
      // Usernames are unique whatever their case.
      const takenName = await chatdAdmin(['create', '--username', admin.username.toUpperCase(), '--email', input.email, '--password', input.password]);
      expect(takenName.code).toBe(1);
      expect(takenName.stderr.split('\n')[0]).toBe('chatd: That username is taken (username)');
      for (const args of [['disable', 'nobody@example.test'], ['enable', 'nobody@example.test'], ['reset-password', 'nobody@example.test', '--generate'], ['set-role', 'nobody@example.test', 'admin'], ['disable', new ObjectId().toHexString()]]) {
        const unknown = await chatdAdmin(args);
        expect(unknown.code, args.join(' ')).toBe(1);
        expect(unknown.stderr.split('\n')[0]).toBe(`chatd: No user ${args[1]}`);
      }
      const weakReset = await chatdAdmin(['reset-password', admin.id, '--password-stdin'], 'password\n');
      expect(weakReset.code).toBe(1);
      expect(weakReset.stderr.split('\n')[0]).toMatch(/^chatd: password must /);
      const noNewPassword = await chatdAdmin(['reset-password', admin.id]);
      expect(noNewPassword.code).toBe(1);
      expect(noNewPassword.stderr.split('\n')[0]).toBe('chatd: a password is required: give --password-stdin or --password (no terminal to ask on)');
      const badPage = await chatdAdmin(['list', '--page', '0']);
      expect(badPage.code).toBe(1);
      expect(badPage.stderr.split('\n')[0]).toBe('chatd: --page must be a whole number from 1 (got "0")');
      const badRole = await chatdAdmin(['set-role', admin.id, 'root']);
      expect(badRole.code).toBe(1);
      expect(badRole.stderr.split('\n')[0]).toBe('chatd: role must be admin or user (got "root")');
    });
  }, CLI_TIMEOUT);

  it('on a terminal asks only for what the flags leave out, the password hidden and twice', async () => {
    const input = uniqueAccount('tty');
    const result = await chatdAdminOnTerminal(['create', '--email', input.email], [
      { when: /Username/, send: input.username },
      { when: /Password/, send: input.password },
      { when: /Password again/, send: input.password },
    ]);
    expect(result.code, result.stdout).toBe(0);
    expect(result.stdout).toMatch(new RegExp(`created administrator ${input.username} <${input.email}>`));
    expect(result.stdout).not.toMatch(/E-mail/);
    expect(result.stdout).not.toContain(input.password);
    await login(api, input.email, input.password);

    const reset = await chatdAdminOnTerminal(['reset-password', input.username], [
      { when: /Password/, send: 'N3w!terminal-gull' },
      { when: /Password again/, send: 'N3w!terminal-gull' },
    ]);
    expect(reset.code, reset.stdout).toBe(0);
    expect(reset.stdout).toMatch(/new password set for /);
    await login(api, input.email, 'N3w!terminal-gull');
  }, CLI_TIMEOUT);

  it('with --yes asks nothing even on a terminal, and names what is missing', async () => {
    const input = uniqueAccount('yes');
    await expectNoChange(db, async () => {
      const create = await chatdAdminOnTerminal(['create', '--email', input.email, '--yes']);
      expect(create.code).toBe(1);
      expect(create.stdout.trim().split('\n')[0]).toBe('chatd: --username is required (--yes: nothing is asked)');
      const reset = await chatdAdminOnTerminal(['reset-password', admin.id, '--yes']);
      expect(reset.code).toBe(1);
      expect(reset.stdout.trim().split('\n')[0]).toBe('chatd: a password is required: give --password-stdin or --password (--yes: nothing is asked)');
    });
  }, CLI_TIMEOUT);

  it('lists users as a table or JSON lines', async () => {
    const member = await createUser(db);
    const table = await chatdAdmin(['list', '--search', member.username]);
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toMatch(new RegExp(`^${member.id}  ${member.username}\\s+${member.email}\\s+user \\s+enabled`, 'm'));
    const json = await chatdAdmin(['list', '--search', member.username, '--json']);
    expect(JSON.parse(json.stdout.trim())).toMatchObject({ id: member.id, username: member.username, email: member.email, role: 'user', disabled: false });
  }, CLI_TIMEOUT);

  it('disables a user while chatd serve runs: the server closes their WebSocket (1008) and refuses their token', async () => {
    const account = await register(api);
    const socket = await HubClient.connect(server.wsUrl, { token: account.accessToken });
    const result = await chatdAdmin(['disable', account.email]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^disabled /);
    // The CLI is another process: the server notices on its next re-check (SESSION_RECHECK_SECONDS=1 here).
    expect((await socket.closed).code).toBe(1008);
    expectError(await api.get('/api/auth/me', { token: account.accessToken }), 401, 'UNAUTHORIZED');
    expectError(await api.post('/api/auth/login', { email: account.email, password: account.password }), 403, 'FORBIDDEN');

    const enabled = await chatdAdmin(['enable', account.username]);
    expect(enabled.code, enabled.stderr).toBe(0);
    const session = await login(api, account.email, account.password);
    // The server had this account's disabled standing cached: the enable reaches it through the log.
    await expect.poll(async () => (await api.get('/api/auth/me', { token: session.accessToken })).status, { timeout: 10_000 }).toBe(200);
  }, CLI_TIMEOUT);

  it('resets a password (generated) and sets a role by id', async () => {
    const account = await register(api);
    const reset = await chatdAdmin(['reset-password', account.id, '--generate']);
    expect(reset.code, reset.stderr).toBe(0);
    const password = /^password: (.+)$/m.exec(reset.stdout)![1]!;
    expectError(await api.post('/api/auth/login', { email: account.email, password: account.password }), 401, 'UNAUTHORIZED');
    // Another process's change reaches the server through the change log (read every second here).
    await expect.poll(async () => (await api.get('/api/auth/me', { token: account.accessToken })).status, { timeout: 10_000 }).toBe(401);
    const session = await login(api, account.email, password);
    expect((await api.get('/api/admin/users', { token: session.accessToken })).status).toBe(403);

    const promoted = await chatdAdmin(['set-role', account.id, 'admin']);
    expect(promoted.code, promoted.stderr).toBe(0);
    expect((await user(account.id)).role).toBe('admin');
    await expect.poll(async () => (await api.get('/api/admin/users', { token: session.accessToken })).status, { timeout: 10_000 }).toBe(200);
  }, CLI_TIMEOUT);
});

describe('token sweep', () => {
  it('deletes expired token entries on its cron schedule and keeps live ones', async () => {
    const userId = new ObjectId();
    const past = new Date(Date.now() - 60_000);
    const future = new Date(Date.now() + 3_600_000);
    const tokens = db.collection('tokens');
    await tokens.insertMany([
      { _id: `refresh:sweep-${userId}` as never, kind: 'refresh', userId, family: 'f1', expiresAt: past, createdAt: past },
      { _id: `access:sweep-${userId}` as never, kind: 'revoked-access', userId, expiresAt: past, createdAt: past },
      { _id: `reset:sweep-${userId}` as never, kind: 'password-reset', userId, expiresAt: past, createdAt: past },
      { _id: `family:sweep-${userId}` as never, kind: 'revoked-family', userId, family: 'f2', expiresAt: future, createdAt: past },
    ]);
    const deadline = Date.now() + 10_000;
    while ((await tokens.countDocuments({ userId, expiresAt: { $lt: new Date() } })) > 0) {
      if (Date.now() > deadline) throw new Error('expired tokens were not swept within 10 s');
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    expect(await tokens.countDocuments({ userId })).toBe(1);
  });
});
