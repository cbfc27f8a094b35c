import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ObjectId } from 'mongodb';
import { describe, expect, it } from 'vitest';
import { apiClient } from '../support/api.js';
import { chatdBin, runChatd, startChatd } from '../support/chatd.js';
import { createUser } from '../support/factories.js';
import { HubClient } from '../support/hub-client.js';
import { send } from '../support/messaging.js';
import { cliEnv, connectEmbedded } from '../support/ops.js';

const tempDir = (label: string) => mkdtempSync(join(tmpdir(), `chatd-${label}-`));
const SERVER_ENV = { WS_EVENTS_PER_SECOND: '100000', WS_USER_EVENTS_PER_SECOND: '100000' };
// eslint-disable-next-line no-control-regex
const ansi = /\x1b\[[0-9;?]*[A-Za-z]/g;

/**
 * `chatd backup` on a pseudo-terminal, so it shows its progress, frozen (SIGSTOP) the moment it
 * reports having read part of the messages: `whileFrozen` runs then, and the backup goes on after.
 */
function backupFrozenMidMessages(env: Record<string, string | undefined>, out: string, whileFrozen: () => Promise<void>): Promise<{ code: number | null; screen: string }> {
  const command = `stty cols 200; exec '${process.execPath}' '${chatdBin}' backup --out '${out}'`;
  const child = spawn('script', ['-qfec', command, '/dev/null'], { cwd: env.CHATD_DATA_DIR, env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
  let screen = '';
  let frozen = false;
  let failure: unknown;
  return new Promise((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      screen += chunk.toString().replace(ansi, '');
      if (frozen || !/backing up messages: [1-9]/.test(screen)) return;
      frozen = true;
      // `script` runs the command as its child; exec made that chatd itself.
      const chatd = Number(readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8').trim().split(/\s+/)[0]);
      process.kill(chatd, 'SIGSTOP');
      whileFrozen()
        .catch((error: unknown) => (failure = error))
        .finally(() => {
          process.kill(chatd, 'SIGCONT');
          // `script` stops itself when its child stops; it must read the terminal again.
          process.kill(child.pid!, 'SIGCONT');
        });
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      if (failure) reject(failure);
      else if (!frozen) reject(new Error(`the backup never reported reading messages:\n${screen}`));
      else resolve({ code, screen });
    });
  });
}

describe('a backup taken while messages with files are deleted', { timeout: 240_000 }, () => {
  it('restores each such message either with its file or deleted, never without its file', async () => {
    const dataDir = tempDir('backup-deleted');
    const archive = join(dataDir, 'during-deletes.tar.gz');
    const server = await startChatd({ embedded: true, dataDir, env: SERVER_ENV });
    let user;
    let withFiles: { _id: string; fileId: string }[] = [];
    try {
      const { client, db } = await connectEmbedded(dataDir);
      user = await createUser(db);
      await client.close();
      const api = apiClient(server.baseUrl);
      const room = await api.post('/api/rooms', { name: 'files', type: 'private' }, { token: user.token });
      const roomId = room.body.room._id as string;
      const hub = await HubClient.connect(server.wsUrl, { token: user.token });
      // The messages with files are the oldest, so the backup reads them first.
      for (let i = 0; i < 5; i += 1) {
        const form = new FormData();
        form.append('file', new Blob([`attachment ${i} `.repeat(100)], { type: 'text/plain' }), `note-${i}.txt`);
        const uploaded = await api.call('POST', '/api/files', undefined, { token: user.token, raw: form });
        expect(uploaded.status).toBe(201);
        const message = await send(hub, roomId, `file ${i}`, { fileAttachment: { fileId: uploaded.body.file.fileId } });
        withFiles.push({ _id: message._id, fileId: uploaded.body.file.fileId });
      }
      // More than one 4 MiB part of messages, so the backup reports progress mid-way through them.
      const filler = 'f'.repeat(4000);
      for (let burst = 0; burst < 15; burst += 1) await Promise.all(Array.from({ length: 100 }, (_, i) => send(hub, roomId, `${filler} ${burst * 100 + i}`)));

      const backup = await backupFrozenMidMessages(await cliEnv(dataDir), archive, async () => {
        for (const message of withFiles) expect((await hub.request('delete_message', message._id)).event).toBe('message_deleted');
        // Their files were released at once: no other message shares them.
        for (const message of withFiles) expect((await api.get(`/api/files/${message.fileId}`, { token: user!.token })).status).toBe(404);
      });
      expect(backup.code, backup.screen).toBe(0);
      await hub.close();
    } finally {
      expect(await server.stop()).toBe(0);
    }

    const targetDir = tempDir('backup-deleted-restored');
    const restore = await runChatd(['restore', archive], { cwd: targetDir, env: await cliEnv(targetDir), timeoutMs: 120_000 });
    expect(restore.code, restore.stderr).toBe(0);
    const restored = await startChatd({ embedded: true, dataDir: targetDir, env: SERVER_ENV });
    try {
      const { client, db } = await connectEmbedded(targetDir);
      const docs = await db.collection('messages').find({ _id: { $in: withFiles.map((m) => new ObjectId(m._id)) } }).toArray();
      await client.close();
      expect(docs).toHaveLength(withFiles.length);
      const api = apiClient(restored.baseUrl);
      for (const doc of docs) {
        if (doc.isDeleted) continue;
        // Not deleted: then it must be whole, its file downloadable.
        const download = await api.get(`/api/files/${String(doc.fileAttachment.fileId)}`, { token: user!.token });
        expect(download.status, `message ${String(doc._id)} restored undeleted without its file`).toBe(200);
      }
    } finally {
      expect(await restored.stop()).toBe(0);
    }
    withFiles = [];
  });
});
