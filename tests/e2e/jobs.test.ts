import { existsSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ObjectId } from 'mongodb';
import { describe, expect, it } from 'vitest';
import { connectTestDb, runChatd, startChatd, testDatabaseUri } from '../support/chatd.js';
import { join as joinRoom, messagingFixture, send } from '../support/messaging.js';
import { backdate, cliEnv, stillStored } from '../support/ops.js';
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
    // The ports were free when picked, but parallel test files' connections may take them since.
    expect(doctor.stdout.split('\n').filter((line) => line.startsWith('FAIL') && !line.startsWith('FAIL port '))).toEqual([]);

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

  it('runs the retention sweep on RETENTION_CRON through the messages module: history, room list and files follow', async () => {
    const fx = await messagingFixture({ env: { RETENTION_DAYS: '30', RETENTION_CRON: '* * * * * *' } });
    try {
      const [alice, bob] = await fx.users(2);
      const busy = await fx.room(alice!, [bob!]);
      const quiet = await fx.room(alice!, [bob!]);
      const form = new FormData();
      form.append('file', new Blob([Buffer.from('old bytes')], { type: 'application/octet-stream' }), 'old.bin');
      const uploaded = await fx.api.call('POST', '/api/files', undefined, { token: alice!.token, raw: form });
      expect(uploaded.status, JSON.stringify(uploaded.body)).toBe(201);
      const fileId = uploaded.body.file.fileId as string;
      const stored = await fx.db.collection('files').findOne({ _id: new ObjectId(fileId) });

      const hub = await fx.connect(alice!);
      const old = [await send(hub, busy, 'old text'), await send(hub, busy, 'old file', { fileAttachment: { fileId } }), await send(hub, quiet, 'old in the quiet room')];
      const fresh = [await send(hub, busy, 'fresh one'), await send(hub, busy, 'fresh two')];
      const asBob = { token: bob!.token };
      expect((await fx.api.get(`/api/messages?roomId=${busy}`, asBob)).body.messages).toHaveLength(4);
      expect((await fx.api.get(`/api/files/${fileId}`, asBob)).status).toBe(200);

      // Time passes for the old ones.
      await backdate(fx.db, old, 31);
      await until('the old messages are swept', async () => (await stillStored(fx.db, old)).length === 0, 30_000);
      // The backdating is not one atomic write on the embedded database: a sweep may catch part of it.
      const swept = () => entries(fx.server.logs).filter((entry) => /^retention sweep deleted /.test(entry.msg));
      const total = (key: 'messages' | 'files') => swept().reduce((sum, entry) => sum + Number(entry[key]), 0);
      await until('the sweep logs what it deleted', () => total('messages') === 3 && total('files') === 1);

      const history = await fx.api.get(`/api/messages?roomId=${busy}`, asBob);
      expect(history.body.messages.map((message: { _id: string }) => message._id)).toEqual([fresh[1]._id, fresh[0]._id]);
      const rooms = await fx.api.get('/api/rooms', asBob);
      const byId = new Map(rooms.body.rooms.map((room: { _id: string }) => [room._id, room]));
      expect(byId.get(busy)).toMatchObject({ lastMessage: { _id: fresh[1]._id } });
      expect(byId.get(quiet)).toMatchObject({ lastMessage: null, unreadCount: 0 });
      expect((await fx.api.get(`/api/files/${fileId}`, asBob)).status).toBe(404);
      expect(existsSync(join(fx.server.dataDir, 'uploads', stored!.storedName as string))).toBe(false);
      const replay = await joinRoom(hub, busy);
      expect(replay.data.messages.map((message: { _id: string }) => message._id)).toEqual([fresh[0]._id, fresh[1]._id]);
    } finally {
      await fx.close();
    }
  });

  it("honours a room's retention set over the API: its own days, 0 for forever, and null back to RETENTION_DAYS", async () => {
    const fx = await messagingFixture({ env: { RETENTION_DAYS: '30', RETENTION_CRON: '* * * * * *' } });
    try {
      const [alice] = await fx.users(1);
      const [short, forever, reset, plain] = [await fx.room(alice!), await fx.room(alice!), await fx.room(alice!), await fx.room(alice!)];
      const setRetention = async (roomId: string, retentionDays: number | null) => {
        const response = await fx.api.patch(`/api/rooms/${roomId}`, { retentionDays }, { token: alice!.token });
        expect(response.status, JSON.stringify(response.body)).toBe(200);
      };
      await setRetention(short, 7);
      await setRetention(forever, 0);
      await setRetention(reset, 7);
      await setRetention(reset, null);

      const hub = await fx.connect(alice!);
      const kept = { short: await send(hub, short, 'six days old'), forever: await send(hub, forever, 'a month old, kept forever'), reset: await send(hub, reset, 'ten days old') };
      const doomed = [await send(hub, short, 'eight days old'), await send(hub, reset, 'a month old'), await send(hub, plain, 'a month old too')];
      // The kept ones age first: any sweep that sees a doomed message aged sees them aged too, so
      // a wrong limit would delete them in the very pass that deletes the doomed ones.
      await backdate(fx.db, [kept.short], 6);
      await backdate(fx.db, [kept.forever], 31);
      await backdate(fx.db, [kept.reset], 10);
      await backdate(fx.db, doomed.slice(0, 1), 8);
      await backdate(fx.db, doomed.slice(1), 31);
      await until('the expired messages are swept', async () => (await stillStored(fx.db, doomed)).length === 0, 30_000);
      expect(await stillStored(fx.db, Object.values(kept))).toEqual(Object.values(kept).map((message) => message._id as string).sort());
    } finally {
      await fx.close();
    }
  });
});
