import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { apiClient } from '../support/api.js';
import { runChatd, startChatd, testDatabaseUri } from '../support/chatd.js';
import { createUser } from '../support/factories.js';
import { HubClient } from '../support/hub-client.js';
import { join as joinRoom, send } from '../support/messaging.js';
import { launchersOf, until } from '../support/processes.js';
import { cliEnv, connectEmbedded } from '../support/ops.js';

const readState = (dataDir: string) => JSON.parse(readFileSync(join(dataDir, 'db', 'embedded.json'), 'utf8')) as { uri: string; pid: number; supervisorPid: number };

/** Whether `flock -n` can take the launcher's lock file: it must not while a launcher runs. */
function launcherLockFree(dataDir: string): boolean {
  return spawnSync('flock', ['-n', join(dataDir, 'db', '.lock'), 'true']).status === 0;
}

describe('one owner per data directory', () => {
  it('refuses a second chatd serve on the same data directory, naming the first', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'chatd-owner-'));
    const first = await startChatd({ embedded: true, dataDir });
    try {
      const second = await runChatd(['serve'], { cwd: dataDir, env: await cliEnv(dataDir), timeoutMs: 30_000 });
      expect(second.code).toBe(1);
      expect(second.stderr).toContain(`chatd serve (process ${first.process.pid}, PORT ${first.httpPort}, WS_PORT ${first.wsPort}`);
      expect(launchersOf(dataDir)).toHaveLength(1);
      await until('the first chatd is still ready', async () => (await apiClient(first.baseUrl).get('/readyz')).status === 200);
    } finally {
      expect(await first.stop()).toBe(0);
    }
  });

  it('refuses a second chatd serve on the same data directory with MongoDB too', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'chatd-owner-mongo-'));
    const mongoUri = testDatabaseUri('owner');
    const first = await startChatd({ mongoUri, dataDir });
    try {
      const second = await runChatd(['serve'], { cwd: dataDir, env: await cliEnv(dataDir, mongoUri), timeoutMs: 30_000 });
      expect(second.code).toBe(1);
      expect(second.stderr).toContain(`chatd serve (process ${first.process.pid}, PORT ${first.httpPort}`);
    } finally {
      expect(await first.stop()).toBe(0);
    }
    // Once the owner stopped, the directory is free again.
    const again = await startChatd({ mongoUri, dataDir });
    expect(await again.stop()).toBe(0);
  });

  it('keeps the lock through load and a database respawn: CLI commands use the running database and restore is refused', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'chatd-owner-respawn-'));
    // GOGC=1 makes the launcher collect garbage all the time, as it does under load.
    const server = await startChatd({ embedded: true, dataDir, env: { GOGC: '1', WS_EVENTS_PER_SECOND: '10000', WS_USER_EVENTS_PER_SECOND: '10000' } });
    const env = await cliEnv(dataDir);
    try {
      const { client, db } = await connectEmbedded(dataDir);
      const user = await createUser(db);
      await client.close();
      const api = apiClient(server.baseUrl);
      const room = await api.post('/api/rooms', { name: 'owned', type: 'private' }, { token: user.token });
      const roomId = room.body.room._id as string;
      const hub = await HubClient.connect(server.wsUrl, { token: user.token });
      await joinRoom(hub, roomId);
      for (let i = 0; i < 200; i += 1) await send(hub, roomId, `load ${i}`);
      expect(launcherLockFree(dataDir)).toBe(false);

      const backup = await runChatd(['backup', '-o', join(dataDir, 'before.tar.gz')], { cwd: dataDir, env });
      expect(backup.code, backup.stderr).toBe(0);
      for (let i = 0; i < 5; i += 1) await send(hub, roomId, `after the backup ${i}`);

      const firstDatabase = readState(dataDir).pid;
      process.kill(firstDatabase, 'SIGKILL');
      await until('the supervisor respawned the database', () => {
        try {
          return readState(dataDir).pid !== firstDatabase;
        } catch {
          return false;
        }
      });
      await until('chatd is ready again', async () => (await api.get('/readyz')).status === 200);
      const respawned = readState(dataDir).pid;
      expect(launchersOf(dataDir)).toEqual([respawned]);
      expect(launcherLockFree(dataDir)).toBe(false);

      const doctor = await runChatd(['doctor'], { cwd: dataDir, env });
      expect(doctor.stdout).toContain(`chatd serve (process ${server.process.pid}, PORT ${server.httpPort}`);

      const restore = await runChatd(['restore', '--force', join(dataDir, 'before.tar.gz')], { cwd: dataDir, env });
      expect(restore.code).toBe(1);
      expect(restore.stderr).toContain(`in use by chatd serve (process ${server.process.pid}`);
      expect(restore.stderr).toContain('nothing was changed');

      const status = await runChatd(['migrate', 'status'], { cwd: dataDir, env });
      expect(status.code, status.stderr).toBe(0);
      expect(launchersOf(dataDir)).toEqual([respawned]);

      // Nothing acknowledged went missing: the messages sent after the backup are still there.
      const history = await api.get(`/api/messages?roomId=${roomId}&limit=10`, { token: user.token });
      expect(history.body.messages.map((m: { content: string }) => m.content)).toContain('after the backup 4');
      await hub.close();
    } finally {
      expect(await server.stop()).toBe(0);
    }
    expect(launchersOf(dataDir)).toEqual([]);
    // Free again: a one-off command now starts (and stops) its own database.
    const status = await runChatd(['migrate', 'status'], { cwd: dataDir, env });
    expect(status.code, status.stderr).toBe(0);
  });
});
