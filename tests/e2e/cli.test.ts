import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'dotenv';
import { describe, expect, it } from 'vitest';
import { connectTestDb, freePort, runChatd, testDatabaseUri } from '../support/chatd.js';

const tempDir = () => mkdtempSync(join(tmpdir(), 'chatd-cli-'));
// Each CLI run is a fresh Node process; on a busy two-core machine that takes seconds.
const CLI_TIMEOUT = 180_000;

describe('chatd init', () => {
  it('writes .env with mode 0600, two different 32-byte secrets, and creates the data directory', async () => {
    const dir = tempDir();
    const result = await runChatd(['init', '--yes', '--port', '4100', '--ws-port', '4101', '--data-dir', './state'], { cwd: dir });
    expect(result.code, result.stderr).toBe(0);
    const envFile = join(dir, '.env');
    expect(statSync(envFile).mode & 0o777).toBe(0o600);
    const env = parse(readFileSync(envFile));
    expect(env.PORT).toBe('4100');
    expect(env.WS_PORT).toBe('4101');
    expect(env.MONGODB_URI).toBe('');
    expect(Buffer.from(env.JWT_SECRET!, 'base64url')).toHaveLength(32);
    expect(Buffer.from(env.JWT_REFRESH_SECRET!, 'base64url')).toHaveLength(32);
    expect(env.JWT_SECRET).not.toBe(env.JWT_REFRESH_SECRET);
    expect(statSync(join(dir, 'state')).isDirectory()).toBe(true);
    expect(result.stdout).not.toContain(env.JWT_SECRET);
  });

  it('refuses to overwrite an existing .env without --force and leaves it untouched', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, '.env'), 'PORT=1234\n', { mode: 0o644 });
    const refused = await runChatd(['init', '--yes'], { cwd: dir });
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/already exists/);
    expect(refused.stderr).toMatch(/--force/);
    expect(readFileSync(join(dir, '.env'), 'utf8')).toBe('PORT=1234\n');

    const forced = await runChatd(['init', '--yes', '--force'], { cwd: dir });
    expect(forced.code, forced.stderr).toBe(0);
    expect(parse(readFileSync(join(dir, '.env'))).PORT).toBe('3000');
    expect(statSync(join(dir, '.env')).mode & 0o777).toBe(0o600);
  });

  it('takes a MongoDB URI and rejects bad flags with one line', async () => {
    const dir = tempDir();
    const ok = await runChatd(['init', '--yes', '--mongodb-uri', 'mongodb://db.example:27017/chat'], { cwd: dir });
    expect(ok.code, ok.stderr).toBe(0);
    expect(parse(readFileSync(join(dir, '.env'))).MONGODB_URI).toBe('mongodb://db.example:27017/chat');

    const bad = await runChatd(['init', '--yes', '--port', 'abc'], { cwd: tempDir() });
    expect(bad.code).toBe(1);
    expect(bad.stderr.trim().split('\n')[0]).toBe('chatd: --port must be a port number (got "abc")');
  });

  it('never prompts without a TTY', async () => {
    const dir = tempDir();
    const result = await runChatd(['init'], { cwd: dir, timeoutMs: 15_000 });
    expect(result.code, result.stderr).toBe(0);
    expect(existsSync(join(dir, '.env'))).toBe(true);
  });
});

describe('configuration errors', () => {
  it('PORT=notaport chatd serve exits 2 with a line naming PORT, before touching the database', async () => {
    const dir = tempDir();
    await runChatd(['init', '--yes'], { cwd: dir });
    const result = await runChatd(['serve'], { cwd: dir, env: { PORT: 'notaport' } });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^chatd: configuration: PORT must be a port number \(got "notaport"\)$/m);
    expect(existsSync(join(dir, 'data', 'db'))).toBe(false);
  });

  it('prints one line per problem', async () => {
    const result = await runChatd(['serve'], { cwd: tempDir(), env: { PORT: '0x', WS_PORT: '99999' } });
    expect(result.code).toBe(2);
    const lines = result.stderr.trim().split('\n');
    expect(lines).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^chatd: configuration: JWT_REFRESH_SECRET is required/),
        expect.stringMatching(/^chatd: configuration: JWT_SECRET is required/),
        expect.stringMatching(/^chatd: configuration: PORT /),
        expect.stringMatching(/^chatd: configuration: WS_PORT /),
      ]),
    );
    expect(lines).toHaveLength(4);
  });
});

describe('help and version', () => {
  it.each([[[]], [['init']], [['migrate']], [['migrate', 'status']], [['serve']], [['doctor']], [['backup']], [['backup', 'list']], [['restore']]])('chatd %j answers --help and --version', async (args) => {
    const help = await runChatd([...args, '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: chatd/m);
    const version = await runChatd([...args, '--version']);
    expect(version.code).toBe(0);
    expect(version.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it('an unknown command fails with usage help', async () => {
    const result = await runChatd(['frobnicate']);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/unknown command 'frobnicate'/);
  });
});

describe('chatd migrate and doctor against a MongoDB URI', () => {
  it('applies, reports status, and doctor passes', async () => {
    const dir = tempDir();
    await runChatd(['init', '--yes', '--port', '4200'], { cwd: dir });
    const env = { MONGODB_URI: testDatabaseUri('cli') };
    const before = await runChatd(['migrate', 'status'], { cwd: dir, env });
    expect(before.code, before.stderr).toBe(0);
    expect(before.stdout).toMatch(/0001-initial\s+pending/);
    expect(before.stdout).toMatch(/0002-message-index\s+pending/);
    expect(before.stdout).toMatch(/^\d+ pending: run `chatd migrate`/m);
    const early = await runChatd(['doctor'], { cwd: dir, env });
    expect(early.code).toBe(1);
    expect(early.stdout).toMatch(/^FAIL migrations: \d+ pending \(0001-initial.*\): run `chatd migrate`/m);
    const applied = await runChatd(['migrate'], { cwd: dir, env });
    expect(applied.code, applied.stderr).toBe(0);
    expect(applied.stdout).toMatch(/applied 4 migration\(s\): 0001-initial, 0002-message-index, 0003-relative-avatars, 0004-indexes-per-engine/);
    const again = await runChatd(['migrate'], { cwd: dir, env });
    expect(again.stdout).toMatch(/nothing to apply/);
    const after = await runChatd(['migrate', 'status'], { cwd: dir, env });
    expect(after.stdout).toMatch(/0001-initial\s+applied/);
    expect(after.stdout).toMatch(/0002-message-index\s+applied/);
    const doctor = await runChatd(['doctor'], { cwd: dir, env });
    expect(doctor.stdout).toMatch(/^ok {3}database: /m);
    expect(doctor.stdout).toMatch(/^ok {3}websocket engine: uWebSockets.js native binary/m);
    expect(doctor.stdout).toMatch(/^ok {3}migrations: all applied \(\d+, the last \d{4}-[a-z0-9-]+\)$/m);
    expect(doctor.stdout).toMatch(/^ok {3}backups: none taken yet/m);
    expect(doctor.code, doctor.stdout).toBe(0);
  }, CLI_TIMEOUT);

  it('a database a newer chatd migrated: status says so, doctor fails, serve refuses it', async () => {
    const dir = tempDir();
    await runChatd(['init', '--yes', '--port', '4250'], { cwd: dir });
    const env = { MONGODB_URI: testDatabaseUri('cli_newer') };
    expect((await runChatd(['migrate'], { cwd: dir, env })).code).toBe(0);
    const { client, db } = await connectTestDb(env.MONGODB_URI);
    try {
      await db.collection('migrations').insertOne({ _id: '9999-from-the-future' as never, description: 'a newer chatd', appliedAt: new Date(), durationMs: 1 });
    } finally {
      await client.close();
    }
    const newer = await runChatd(['migrate', 'status'], { cwd: dir, env });
    expect(newer.stdout).toMatch(/^9999-from-the-future\s+applied .*\(not known to this chatd version\)$/m);
    expect(newer.stdout).toMatch(/^1 applied by a newer chatd: this one is older than the database/m);
    const worried = await runChatd(['doctor'], { cwd: dir, env });
    expect(worried.code).toBe(1);
    expect(worried.stdout).toMatch(/^FAIL migrations: the database was migrated by a newer chatd \(9999-from-the-future unknown here\)/m);
    const serve = await runChatd(['serve'], { cwd: dir, env: { ...env, PORT: String(await freePort()), WS_PORT: String(await freePort()) } });
    expect(serve.code).toBe(1);
    expect(serve.stderr).toMatch(/could not start: the database was migrated by a newer chatd \(9999-from-the-future unknown here\)/);
  }, CLI_TIMEOUT);

  it('doctor fails and names the problem when the database is unreachable', async () => {
    const dir = tempDir();
    await runChatd(['init', '--yes', '--port', '4300'], { cwd: dir });
    const doctor = await runChatd(['doctor'], { cwd: dir, env: { MONGODB_URI: 'mongodb://127.0.0.1:1/chatd?serverSelectionTimeoutMS=500' } });
    expect(doctor.code).toBe(1);
    expect(doctor.stdout).toMatch(/^FAIL database: /m);
  });
});
