import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ObjectId } from 'mongodb';
import { afterAll, describe, expect, it } from 'vitest';
import { apiClient, type ApiClient } from '../support/api.js';
import { runChatd, startChatd as spawnChatd, type ChatdServer, type StartOptions } from '../support/chatd.js';
import { createUser } from '../support/factories.js';
import { HubClient, type Frame } from '../support/hub-client.js';
import { join as joinRoom, send } from '../support/messaging.js';
import { launchersOf, until } from '../support/processes.js';
import { cliEnv, connectEmbedded, messageDoc } from '../support/ops.js';
import { smallDisk } from '../support/small-disk.js';

/** Every server this file started, so that none outlives a failed test. */
const started: ChatdServer[] = [];
async function startChatd(options: StartOptions): Promise<ChatdServer> {
  const server = await spawnChatd(options);
  started.push(server);
  return server;
}
afterAll(async () => {
  for (const server of started) if (server.process.exitCode === null && server.process.signalCode === null) await server.stop('SIGKILL');
});

const tempDir = (label: string) => mkdtempSync(join(tmpdir(), `chatd-${label}-`));
const SERVER_ENV = { WS_EVENTS_PER_SECOND: '100000', WS_USER_EVENTS_PER_SECOND: '100000' };

const databasePid = (dataDir: string) => (JSON.parse(readFileSync(join(dataDir, 'db', 'embedded.json'), 'utf8')) as { pid: number }).pid;

/** A user with a room of their own on a running embedded chatd. */
async function userWithRoom(server: ChatdServer): Promise<{ token: string; roomId: string; api: ApiClient }> {
  const { client, db } = await connectEmbedded(server.dataDir);
  const user = await createUser(db);
  await client.close();
  const api = apiClient(server.baseUrl);
  const room = await api.post('/api/rooms', { name: 'faults', type: 'private' }, { token: user.token });
  expect(room.status).toBe(201);
  return { token: user.token, roomId: room.body.room._id as string, api };
}

/** The answer to a request, or 'no answer' when none came within `ms` (the wait the fix bounds). */
async function answerWithin(reply: Promise<Frame>, ms: number): Promise<Frame | 'no answer'> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([reply, new Promise<'no answer'>((resolve) => (timer = setTimeout(() => resolve('no answer'), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

describe('faults of the process, the database and the disk', { timeout: 240_000 }, () => {
  it('SIGTERM acknowledges every accepted message before closing sockets with 1001, exits 0 and leaves no database process', async () => {
    const dataDir = tempDir('drain');
    const server = await startChatd({ embedded: true, dataDir, env: SERVER_ENV });
    const { token, roomId } = await userWithRoom(server);
    const hubs = await Promise.all(Array.from({ length: 4 }, () => HubClient.connect(server.wsUrl, { token })));
    for (const hub of hubs) await joinRoom(hub, roomId);
    const closes = hubs.map((hub) => hub.closed);
    // Fire sends without waiting for them, then stop the server while they are in flight.
    const sent: string[] = [];
    for (let i = 0; i < 300; i += 1) {
      for (const [n, hub] of hubs.entries()) {
        const clientMsgId = `drain-${n}-${i}`;
        sent.push(clientMsgId);
        hub.socket.send(JSON.stringify({ event: 'send_message', data: { roomId, content: `m ${clientMsgId}`, clientMsgId }, id: clientMsgId }));
      }
    }
    await until('the server stored some of them', () => hubs.some((hub) => hub.frames.some((frame) => frame.event === 'message_sent')));
    const exitCode = await server.stop('SIGTERM');
    expect(exitCode).toBe(0);
    expect((await Promise.all(closes)).map((close) => close.code)).toEqual([1001, 1001, 1001, 1001]);
    await until('the database process is gone', () => launchersOf(dataDir).length === 0, 10_000);
    const acknowledged = new Set(hubs.flatMap((hub) => hub.frames.filter((frame) => frame.event === 'message_sent').map((frame) => String(frame.id))));

    const again = await startChatd({ embedded: true, dataDir, env: SERVER_ENV });
    try {
      const { client, db } = await connectEmbedded(dataDir);
      const stored = (await db.collection('messages').find({ clientMsgId: { $in: sent } }, { projection: { clientMsgId: 1 } }).toArray()).map((m) => String(m.clientMsgId));
      await client.close();
      expect(stored.length).toBeGreaterThan(0);
      // Stored means acknowledged: nothing was stored behind a closed socket.
      expect(stored.filter((id) => !acknowledged.has(id))).toEqual([]);
      // Acknowledged means stored.
      expect([...acknowledged].filter((id) => !stored.includes(id))).toEqual([]);
    } finally {
      expect(await again.stop()).toBe(0);
    }
  });

  it('a stop that overruns SHUTDOWN_TIMEOUT_SECONDS exits 1 and takes the database with it, never leaving it orphaned', async () => {
    const dataDir = tempDir('overrun');
    // The database hangs and its deadline is long, so sends stay in flight past the shutdown timeout.
    const server = await startChatd({ embedded: true, dataDir, env: { ...SERVER_ENV, DB_TIMEOUT_MS: '60000', SHUTDOWN_TIMEOUT_SECONDS: '3' } });
    const pid = databasePid(dataDir);
    try {
      const { token, roomId } = await userWithRoom(server);
      const hub = await HubClient.connect(server.wsUrl, { token });
      await joinRoom(hub, roomId);
      process.kill(pid, 'SIGSTOP');
      for (let i = 0; i < 20; i += 1) hub.socket.send(JSON.stringify({ event: 'send_message', data: { roomId, content: `stuck ${i}`, clientMsgId: `stuck-${i}` }, id: `stuck-${i}` }));
      await new Promise((resolve) => setTimeout(resolve, 300));
      const started = Date.now();
      expect(await server.stop('SIGTERM')).toBe(1);
      expect(Date.now() - started).toBeLessThan(15_000);
      // A stopped process only goes with SIGKILL: gone means chatd killed it, not that it left on its own.
      await until('the database process is gone', () => launchersOf(dataDir).length === 0, 10_000);
    } finally {
      for (const left of launchersOf(dataDir)) process.kill(left, 'SIGKILL');
    }
  });

  it('answers UNAVAILABLE with a retry hint while the database hangs, says so in /readyz, and recovers', async () => {
    const dataDir = tempDir('hang');
    const server = await startChatd({ embedded: true, dataDir, env: { ...SERVER_ENV, DB_TIMEOUT_MS: '1500' } });
    let stopped = false;
    try {
      const { token, roomId, api } = await userWithRoom(server);
      const hub = await HubClient.connect(server.wsUrl, { token });
      await joinRoom(hub, roomId);
      await send(hub, roomId, 'before the hang');
      const pid = databasePid(dataDir);
      process.kill(pid, 'SIGSTOP');
      try {
        const reply = await answerWithin(hub.request('send_message', { roomId, content: 'during the hang', clientMsgId: 'hang-1' }), 15_000);
        expect(reply).not.toBe('no answer');
        expect((reply as Frame).event).toBe('error');
        expect((reply as Frame).data).toMatchObject({ code: 'UNAVAILABLE', retryAfter: expect.any(Number) });

        const posted = await api.post('/api/messages', { roomId, content: 'during the hang over REST', clientMsgId: 'hang-2' }, { token });
        expect(posted.status).toBe(503);
        expect(posted.body.error.code).toBe('UNAVAILABLE');
        expect(Number(posted.headers.get('retry-after'))).toBeGreaterThan(0);
        // History is answered: from what chatd holds in memory, or UNAVAILABLE; never silence.
        const history = await api.get(`/api/messages?roomId=${roomId}`, { token });
        expect(history.status === 200 || history.body.error.code === 'UNAVAILABLE').toBe(true);
        const ready = await api.get('/readyz');
        expect(ready.status).toBe(503);
        expect(ready.body.error.code).toBe('UNAVAILABLE');
      } finally {
        process.kill(pid, 'SIGCONT');
      }
      await until('chatd is ready again', async () => (await api.get('/readyz')).status === 200);
      // The retry with the same clientMsgId is stored once.
      const retried = await send(hub, roomId, 'during the hang', { clientMsgId: 'hang-1' });
      expect(retried.clientMsgId).toBe('hang-1');
      await hub.close();
      expect(await server.stop()).toBe(0);
      stopped = true;
    } finally {
      if (!stopped) await server.stop('SIGKILL');
    }
  });

  it('answers 507 / STORAGE_FULL at once on a full disk, says so in /readyz and chatd doctor, and recovers when space returns', async () => {
    const disk = await smallDisk(48);
    const mount = disk.path;
    const dataDir = join(mount, 'data');
    mkdirSync(dataDir);
    const filler = join(mount, 'filler');
    let server: ChatdServer | undefined;
    try {
      server = await startChatd({ embedded: true, dataDir, prefix: disk.prefix, env: { ...SERVER_ENV, STORAGE_RESERVE_MB: '2' } });
      const { token, roomId, api } = await userWithRoom(server);
      const hub = await HubClient.connect(server.wsUrl, { token });
      await joinRoom(hub, roomId);
      // Fill the disk before this server sent anything.
      try {
        execFileSync('dd', ['if=/dev/zero', `of=${filler}`, 'bs=1M'], { stdio: 'ignore' });
      } catch {
        // dd stops with "No space left on device": the disk is full
      }
      await until('readyz reports the full disk', async () => {
        const ready = await api.get('/readyz');
        return ready.status === 507 && ready.body.error.code === 'STORAGE_FULL';
      });
      const reply = await answerWithin(hub.request('send_message', { roomId, content: 'on a full disk', clientMsgId: 'full-1' }), 5000);
      expect(reply).not.toBe('no answer');
      expect((reply as Frame).data).toMatchObject({ code: 'STORAGE_FULL' });
      const posted = await api.post('/api/messages', { roomId, content: 'on a full disk over REST' }, { token });
      expect(posted.status).toBe(507);
      expect(posted.body.error.code).toBe('STORAGE_FULL');
      const form = new FormData();
      form.append('file', new Blob(['x'.repeat(300_000)], { type: 'text/plain' }), 'big.txt');
      const uploaded = await api.call('POST', '/api/files', undefined, { token, raw: form });
      expect(uploaded.status).toBe(507);
      expect(uploaded.body.error.code).toBe('STORAGE_FULL');
      const doctor = await runChatd(['doctor'], { cwd: dataDir, prefix: disk.prefix, env: await cliEnv(dataDir, undefined, { STORAGE_RESERVE_MB: '2' }) });
      expect(doctor.stdout).toMatch(/DISK FULL/);

      rmSync(filler);
      await until('chatd is ready again', async () => (await api.get('/readyz')).status === 200);
      const stored = await send(hub, roomId, 'space is back', { clientMsgId: 'full-1' });
      expect(stored.content).toBe('space is back');
      await hub.close();
      expect(await server.stop()).toBe(0);
      server = undefined;
    } finally {
      if (server) await server.stop('SIGKILL');
      await until('the database let go of the mount', () => launchersOf(dataDir).length === 0, 10_000).catch(() => undefined);
      await disk.release();
    }
  });

  it('is not ready before it answers history and sends (the message index is rebuilt first)', async () => {
    const dataDir = tempDir('ready');
    const first = await startChatd({ embedded: true, dataDir, env: SERVER_ENV });
    const { token, roomId } = await userWithRoom(first);
    // Messages the index has not seen (as after a crash): the next start rebuilds it from all of them.
    const { client, db } = await connectEmbedded(dataDir);
    const senderId = new ObjectId();
    for (let batch = 0; batch < 25; batch += 1) {
      await db.collection('messages').insertMany(Array.from({ length: 2000 }, () => messageDoc(new ObjectId(roomId), senderId)));
    }
    await client.close();
    await first.stop('SIGKILL');
    await until('the old database is gone', () => launchersOf(dataDir).length === 0, 10_000);

    const server = await startChatd({ embedded: true, dataDir, env: SERVER_ENV });
    try {
      const api = apiClient(server.baseUrl);
      const answers: { status: number; code?: string; indexReady: boolean }[] = [];
      const indexReady = () => server.logs.some((line) => /"(rebuilt|loaded) the message index"/.test(line));
      await until('readyz says ready', async () => {
        const ready = await api.get('/readyz');
        answers.push({ status: ready.status, code: ready.body?.error?.code, indexReady: indexReady() });
        return ready.status === 200;
      }, 120_000).catch((error: unknown) => {
        throw new Error(`${(error as Error).message}: ${JSON.stringify(answers.slice(-3))}\n${server.logs.slice(-5).join('\n')}`);
      });
      expect(server.logs.some((line) => line.includes('rebuilding the message index'))).toBe(true);
      // Every "ready" came after the index was ready; some "not ready" came before.
      expect(answers.filter((answer) => answer.status === 200 && !answer.indexReady)).toEqual([]);
      expect(answers.some((answer) => answer.status === 503)).toBe(true);
      const history = await api.get(`/api/messages?roomId=${roomId}`, { token });
      expect(history.status).toBe(200);
    } finally {
      expect(await server.stop()).toBe(0);
    }
  });

  it('tells a client resuming from a message a restore rolled back that its cursor is unknown', async () => {
    const dataDir = tempDir('rollback');
    const server = await startChatd({ embedded: true, dataDir, env: SERVER_ENV });
    const env = await cliEnv(dataDir);
    let token = '';
    let roomId = '';
    let lastSeen = '';
    try {
      ({ token, roomId } = await userWithRoom(server));
      const hub = await HubClient.connect(server.wsUrl, { token });
      await joinRoom(hub, roomId);
      for (let i = 0; i < 3; i += 1) await send(hub, roomId, `kept ${i}`);
      const backup = await runChatd(['backup', '--out', join(dataDir, 'rollback.tar.gz')], { cwd: dataDir, env });
      expect(backup.code, backup.stderr).toBe(0);
      for (let i = 0; i < 3; i += 1) lastSeen = (await send(hub, roomId, `lost ${i}`))._id as string;
      await hub.close();
    } finally {
      expect(await server.stop()).toBe(0);
    }
    const restore = await runChatd(['restore', '--force', join(dataDir, 'rollback.tar.gz')], { cwd: dataDir, env });
    expect(restore.code, restore.stderr).toBe(0);

    const restored = await startChatd({ embedded: true, dataDir, env: SERVER_ENV });
    try {
      const api = apiClient(restored.baseUrl);
      const hub = await HubClient.connect(restored.wsUrl, { token });
      const resumed = await joinRoom(hub, roomId, lastSeen);
      expect(resumed.data.cursorUnknown).toBe(true);
      expect(resumed.data.messages.map((m: { content: string }) => m.content)).toEqual(['kept 0', 'kept 1', 'kept 2']);
      const after = await api.get(`/api/messages?roomId=${roomId}&after=${lastSeen}`, { token });
      expect(after.status).toBe(200);
      expect(after.body.cursorUnknown).toBe(true);
      expect(after.body.messages).toHaveLength(3);
      const before = await api.get(`/api/messages?roomId=${roomId}&before=${lastSeen}`, { token });
      expect(before.body.cursorUnknown).toBe(true);
      // A cursor that exists is answered as before, without the flag.
      const known = await joinRoom(hub, roomId, resumed.data.messages[0]._id as string);
      expect(known.data.cursorUnknown).toBeUndefined();
      expect(known.data.messages).toHaveLength(2);
      await hub.close();
    } finally {
      expect(await restored.stop()).toBe(0);
    }
  });
});
