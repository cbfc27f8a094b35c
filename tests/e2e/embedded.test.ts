import { existsSync, mkdtempSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { apiClient } from '../support/api.js';
import { connectTestDb, runChatd, startChatd } from '../support/chatd.js';
import { createUser } from '../support/factories.js';
import { HubClient } from '../support/hub-client.js';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function until(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`timed out waiting until ${what}`);
}

const readState = (dataDir: string) => JSON.parse(readFileSync(join(dataDir, 'db', 'embedded.json'), 'utf8')) as { uri: string; pid: number; supervisorPid: number };

describe('the embedded database', () => {
  it('starts with serve, goes unready when it dies, comes back, and is gone after a graceful stop', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'chatd-embedded-'));
    const server = await startChatd({ embedded: true, dataDir });
    const api = apiClient(server.baseUrl);
    try {
      // Ready once the message index is loaded, a moment after "chatd is serving".
      await until('chatd is ready', async () => (await api.get('/readyz')).status === 200);
      const state = readState(dataDir);
      expect(state.supervisorPid).toBe(server.process.pid);
      expect(alive(state.pid)).toBe(true);

      // While serve runs, other commands reuse its database instead of starting a second one.
      const status = await runChatd(['migrate', 'status'], { cwd: dataDir, env: { CHATD_DATA_DIR: dataDir, JWT_SECRET: 'x'.repeat(40), JWT_REFRESH_SECRET: 'y'.repeat(40) } });
      expect(status.code, status.stderr).toBe(0);
      expect(status.stdout).toMatch(/0001-initial\s+applied/);
      expect(readState(dataDir).pid).toBe(state.pid);

      // Hub tokens are accepted only for users that exist; this one outlives the database restart.
      const connection = await connectTestDb(`${state.uri.replace(/\/$/, '')}/chatd`);
      const user = await createUser(connection.db);
      await connection.client.close();

      process.kill(state.pid, 'SIGKILL');
      await until('readyz reports the outage', async () => {
        const ready = await api.get('/readyz');
        return ready.status === 503 && ready.body?.error?.code === 'UNAVAILABLE';
      });
      expect((await api.get('/healthz')).status).toBe(200);
      await until('the supervisor restarted the database', async () => (await api.get('/readyz')).status === 200, 30_000);

      const client = await HubClient.connect(server.wsUrl, { token: user.token });
      const exitCode = server.stop('SIGTERM');
      expect((await client.closed).code).toBe(1001);
      expect(await exitCode).toBe(0);
      // uWebSockets.js may add a plain-text warning on stderr (see Hub.upgrade); chatd's own lines are JSON.
      const restartedPid = server.logs.filter((line) => line.startsWith('{')).map((line) => JSON.parse(line)).filter((entry) => entry.msg === 'embedded database started' || entry.msg === 'embedded database restarted');
      expect(restartedPid.length).toBeGreaterThan(0);
      await until('no embedded database process is left', () => !alive(state.pid));
      expect(existsSync(join(dataDir, 'db', 'embedded.json'))).toBe(false);
      // No launcher process for this data directory survives.
      const { execSync } = await import('node:child_process');
      expect(execSync('ps -eo args').toString()).not.toContain(join(dataDir, 'db'));
    } finally {
      await server.stop('SIGKILL');
    }
  });

  it('ignores a stale state file left by a crash', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'chatd-embedded-stale-'));
    mkdirSync(join(dataDir, 'db'), { recursive: true });
    writeFileSync(join(dataDir, 'db', 'embedded.json'), JSON.stringify({ uri: 'mongodb://127.0.0.1:1', pid: 999999, supervisorPid: 999998, startedAt: new Date(0).toISOString() }));
    const server = await startChatd({ embedded: true, dataDir });
    try {
      await until('chatd is ready', async () => (await apiClient(server.baseUrl).get('/readyz')).status === 200);
      expect(readState(dataDir).supervisorPid).toBe(server.process.pid);
    } finally {
      expect(await server.stop()).toBe(0);
    }
  });

  it('says how to fix a missing launcher', async () => {
    const result = await runChatd(['migrate', 'status'], {
      cwd: tmpdir(),
      env: { CHATD_DATA_DIR: mkdtempSync(join(tmpdir(), 'chatd-nolauncher-')), CHATD_FERRETDB_BIN: '/nonexistent/chatd-ferretdb', JWT_SECRET: 'x'.repeat(40), JWT_REFRESH_SECRET: 'y'.repeat(40) },
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/embedded database is not built .*npm run setup.*MONGODB_URI/);
  });
});
