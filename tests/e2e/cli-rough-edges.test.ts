import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { chatdBin, freePort, runChatd, startChatd, testDatabaseUri } from '../support/chatd.js';
import { runProcess } from '../support/process.js';
import { cliEnv } from '../support/ops.js';
import { until } from '../support/wait.js';

// What a new administrator hits first: each of these once printed something unhelpful.
const tempDir = () => mkdtempSync(join(tmpdir(), 'chatd-edges-'));
const CLI_TIMEOUT = 120_000;

/** Runs bin/chatd as a user does (its own shebang line, not `node bin/chatd`). */
const runBin = (args: string[], cwd: string) => runProcess(chatdBin, args, { cwd, env: { PATH: process.env.PATH, HOME: process.env.HOME } });

describe('a settings file that does not exist', () => {
  it('`chatd --env-file /nope/.env <command>` says so in one line and exits 2', async () => {
    const status = await runBin(['--env-file', '/nope/.env', 'migrate', 'status'], tempDir());
    expect(status.code).toBe(2);
    expect(status.stderr.trim()).toBe('chatd: configuration: --env-file /nope/.env does not exist');
    const doctor = await runBin(['--env-file', '/nope/.env', 'doctor'], tempDir());
    expect(doctor.code).not.toBe(0);
    expect(doctor.stdout).toMatch(/^FAIL configuration: --env-file: \/nope\/\.env does not exist$/m);
  }, CLI_TIMEOUT);
});

describe('configuration checks', () => {
  it('refuses HOST=999.1.1.1 and CORS_ORIGIN=notanorigin (or an origin with a path) before listening', async () => {
    const dir = tempDir();
    const env = await cliEnv(dir, testDatabaseUri('edges'), { HOST: '999.1.1.1', CORS_ORIGIN: 'notanorigin,https://chat.example.com/' });
    const result = await runChatd(['serve'], { cwd: dir, env, timeoutMs: CLI_TIMEOUT });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^chatd: configuration: CORS_ORIGIN each entry must be \* or an http:\/\/ or https:\/\/ origin such as https:\/\/chat\.example\.com/m);
    expect(result.stderr).toMatch(/^chatd: configuration: HOST must be an IP address such as 0\.0\.0\.0, 127\.0\.0\.1 or ::, or a host name$/m);
    expect(await fetch(`http://127.0.0.1:${env.PORT}/healthz`).then(() => 'answered', () => 'nothing')).toBe('nothing');
  }, CLI_TIMEOUT);

  it('accepts the addresses and origins people do use', async () => {
    const dir = tempDir();
    for (const [host, origins] of [['::', '*'], ['localhost', 'http://localhost:5173,https://chat.example.com'], ['192.168.1.20', 'http://192.168.1.20:3000']]) {
      const env = await cliEnv(dir, undefined, { HOST: host!, CORS_ORIGIN: origins! });
      const result = await runChatd(['doctor'], { cwd: dir, env, timeoutMs: CLI_TIMEOUT });
      expect(result.stdout, `${host} ${origins}`).toMatch(/^ok {3}configuration: /m);
    }
  }, CLI_TIMEOUT * 2);
});

describe('chatd serve --port', () => {
  it('listens where --port and --ws-port say, over PORT and WS_PORT', async () => {
    const [port, wsPort] = [await freePort(), await freePort()];
    const server = await startChatd({ args: ['--port', String(port), '--ws-port', String(wsPort)] });
    try {
      // Ready once the message index is loaded, a moment after the ports are open.
      await until('chatd is ready on --port', async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200);
      expect(server.logs.some((line) => line.includes(`"httpPort":${port},"wsPort":${wsPort}`))).toBe(true);
    } finally {
      expect(await server.stop()).toBe(0);
    }
    const refused = await runChatd(['serve', '--port', 'notaport'], { cwd: tempDir(), env: await cliEnv(tempDir()), timeoutMs: CLI_TIMEOUT });
    expect(refused.code).toBe(2);
    expect(refused.stderr.trim()).toBe('chatd: configuration: PORT must be a port number (got "notaport")');
  }, CLI_TIMEOUT);
});

describe('mistyped subcommands', () => {
  it.each([
    [['backup', 'lst'], "did you mean 'chatd backup list'?"],
    [['migrate', 'stats'], "did you mean 'chatd migrate status'?"],
    [['backup', 'frobnicate'], "run 'chatd backup --help' for its commands"],
  ])('chatd %j names the closest command', async (args, hint) => {
    const result = await runChatd(args, { cwd: tempDir(), env: await cliEnv(tempDir()), timeoutMs: CLI_TIMEOUT });
    expect(result.code).toBe(1);
    expect(result.stderr.trim().split('\n')).toEqual([`chatd: unknown command 'chatd ${args.join(' ')}'`, `hint: ${hint}`]);
  }, CLI_TIMEOUT);
});

describe('a refused backup --out', () => {
  it('leaves the existing file alone and is not a failed backup for doctor', async () => {
    const dir = tempDir();
    const env = await cliEnv(dir, testDatabaseUri('edges_backup'));
    expect((await runChatd(['migrate'], { cwd: dir, env, timeoutMs: CLI_TIMEOUT })).code).toBe(0);
    const existing = join(dir, 'keep.tar.gz');
    writeFileSync(existing, 'mine');
    const refused = await runChatd(['backup', '--out', existing], { cwd: dir, env, timeoutMs: CLI_TIMEOUT });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^chatd: backup refused: .*keep\.tar\.gz already exists; choose another --out$/m);
    expect(readFileSync(existing, 'utf8')).toBe('mine');
    const doctor = await runChatd(['doctor'], { cwd: dir, env, timeoutMs: CLI_TIMEOUT });
    expect(doctor.stdout).toMatch(/^ok {3}backups: none taken yet/m);
    expect(doctor.code, doctor.stdout).toBe(0);
  }, CLI_TIMEOUT * 2);
});

describe('the slow uWebSockets.js fallback', () => {
  it('chatd serve refuses it unless ALLOW_SLOW_HUB=1', async () => {
    const dir = tempDir();
    const refused = await runChatd(['serve'], { cwd: dir, env: await cliEnv(dir, testDatabaseUri('edges_slow'), { UWS_USE_FALLBACK: '1' }), timeoutMs: CLI_TIMEOUT });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/uWebSockets\.js cannot load its native binary .*run chatd on Node\.js 20 .*or set ALLOW_SLOW_HUB=1/);

    const server = await startChatd({ env: { UWS_USE_FALLBACK: '1', ALLOW_SLOW_HUB: '1' } });
    try {
      await until('chatd on the fallback is ready', async () => (await fetch(`${server.baseUrl}/readyz`)).status === 200);
      expect(server.logs.some((line) => line.includes('NOT using its native binary'))).toBe(true);
    } finally {
      expect(await server.stop()).toBe(0);
    }
  }, CLI_TIMEOUT);
});
