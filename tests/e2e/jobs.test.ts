import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { connectTestDb, runChatd, startChatd, testDatabaseUri } from '../support/chatd.js';
import { cliEnv, daysAgo, messageDoc, roomDoc, userDoc } from '../support/ops.js';
import { until } from '../support/wait.js';

const tempDir = (label: string) => mkdtempSync(join(tmpdir(), `chatd-${label}-`));

const entries = (logs: string[]) =>
  logs.flatMap((line) => {
    try {
      return [JSON.parse(line) as Record<string, any>];
    } catch {
      return [];
    }
  });

describe('jobs inside chatd serve', { timeout: 180_000 }, () => {
  it('takes scheduled backups, keeps the BACKUP_KEEP newest, and doctor reports the last one', async () => {
    const dataDir = tempDir('scheduled');
    const mongoUri = testDatabaseUri('scheduled');
    const server = await startChatd({ dataDir, mongoUri, env: { BACKUP_CRON: '*/2 * * * * *', BACKUP_KEEP: '2' } });
    try {
      expect(entries(server.logs).some((entry) => entry.msg === 'backup scheduled' && entry.schedule === '*/2 * * * * *')).toBe(true);
      await until('four scheduled backups are written', () => entries(server.logs).filter((entry) => entry.msg === 'scheduled backup written').length >= 4);
    } finally {
      expect(await server.stop()).toBe(0);
    }
    const written = entries(server.logs).filter((entry) => entry.msg === 'scheduled backup written').map((entry) => entry.file as string);
    const kept = readdirSync(join(dataDir, 'backups')).filter((name) => name.endsWith('.tar.gz')).sort();
    expect(kept).toEqual(written.slice(-2).map((file) => file.split('/').pop()!).sort());
    expect(entries(server.logs).some((entry) => /^pruned \d+ old backup/.test(entry.msg))).toBe(true);
    expect(readdirSync(join(dataDir, 'backups')).filter((name) => name.includes('partial'))).toEqual([]);

    const env = await cliEnv(dataDir, mongoUri, { BACKUP_CRON: '*/2 * * * * *', BACKUP_KEEP: '2' });
    const doctor = await runChatd(['doctor'], { cwd: dataDir, env });
    expect(doctor.stdout).toMatch(/^ok {3}backups: last backup .* \(scheduled\) .*chatd-.*\.tar\.gz \(.*\); scheduled "\*\/2 \* \* \* \* \*", keeping 2$/m);
    expect(doctor.code, doctor.stdout).toBe(0);

    const verify = await runChatd(['backup', '--verify', join(dataDir, 'backups', kept.at(-1)!)], { cwd: dataDir, env });
    expect(verify.code, verify.stderr).toBe(0);
  });

  it('logs a failing scheduled backup loudly and doctor fails on it', async () => {
    const dataDir = tempDir('scheduled-failing');
    const notADirectory = join(dataDir, 'plain-file');
    writeFileSync(notADirectory, 'in the way');
    const mongoUri = testDatabaseUri('scheduled_fail');
    const settings = { BACKUP_CRON: '*/2 * * * * *', BACKUP_DIR: join(notADirectory, 'backups') };
    const server = await startChatd({ dataDir, mongoUri, env: settings });
    try {
      await until('a scheduled backup fails', () => entries(server.logs).some((entry) => entry.level === 50 && /^SCHEDULED BACKUP FAILED: /.test(entry.msg)));
    } finally {
      expect(await server.stop()).toBe(0);
    }
    const doctor = await runChatd(['doctor'], { cwd: dataDir, env: await cliEnv(dataDir, mongoUri, settings) });
    expect(doctor.code).toBe(1);
    expect(doctor.stdout).toMatch(/^FAIL backups: the last scheduled backup .* FAILED: .*ENOTDIR.*; no backup has succeeded yet$/m);
  });

  it('runs the retention sweep on RETENTION_CRON', async () => {
    const dataDir = tempDir('retention-job');
    const mongoUri = testDatabaseUri('retention_job');
    const server = await startChatd({ dataDir, mongoUri, env: { RETENTION_DAYS: '30', RETENTION_CRON: '* * * * * *' } });
    const { client, db } = await connectTestDb(mongoUri);
    try {
      const user = userDoc();
      const room = roomDoc(user._id);
      await db.collection('users').insertOne(user);
      await db.collection('rooms').insertOne(room);
      const stale = messageDoc(room._id, user._id, { createdAt: daysAgo(31) });
      const fresh = messageDoc(room._id, user._id, { createdAt: daysAgo(29) });
      await db.collection('messages').insertMany([stale, fresh]);
      await until('the stale message is swept', async () => (await db.collection('messages').countDocuments({ _id: stale._id })) === 0, 30_000);
      expect(await db.collection('messages').countDocuments({ _id: fresh._id })).toBe(1);
      await until('the sweep logs what it deleted', () => entries(server.logs).some((entry) => entry.msg === 'retention sweep deleted 1 message(s) and 0 upload(s)'));
    } finally {
      await client.close();
      expect(await server.stop()).toBe(0);
    }
  });
});
