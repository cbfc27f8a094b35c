import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { apiClient } from '../support/api.js';
import { startChatd, type ChatdServer } from '../support/chatd.js';
import { createUser } from '../support/factories.js';
import { HubClient } from '../support/hub-client.js';
import { join as joinRoom, send } from '../support/messaging.js';
import { connectEmbedded } from '../support/ops.js';

// The embedded database logs every request it gets (at debug), so the test sees what chatd asked it.
const SERVER_ENV = { WS_EVENTS_PER_SECOND: '100000', WS_USER_EVENTS_PER_SECOND: '100000', LOG_LEVEL: 'debug', CHATD_FERRETDB_LOG_LEVEL: 'debug' };

/** Requests chatd made to FerretDB that filter messages by clientMsgId: each one reads the whole collection there. */
function clientMsgIdQueries(server: ChatdServer, from: number): string[] {
  // The request is dumped inside the JSON log line, its quotes escaped: \"filter\": {...}
  return server.logs.slice(from).filter((line) => line.includes('Request message') && line.includes('\\"filter\\"') && line.includes('clientMsgId'));
}

describe('a retried clientMsgId on the embedded database', { timeout: 180_000 }, () => {
  it('is answered with the stored message by _id lookups, never a collection scan, also after a restart', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'chatd-retry-'));
    let server = await startChatd({ embedded: true, dataDir, env: SERVER_ENV });
    let token = '';
    let roomId = '';
    const originals: { _id: string; clientMsgId: string }[] = [];
    try {
      const { client, db } = await connectEmbedded(dataDir);
      const user = await createUser(db);
      await client.close();
      token = user.token;
      const room = await apiClient(server.baseUrl).post('/api/rooms', { name: 'retries', type: 'private' }, { token });
      roomId = room.body.room._id as string;
      const hub = await HubClient.connect(server.wsUrl, { token });
      await joinRoom(hub, roomId);
      for (let i = 0; i < 40; i += 1) {
        const message = await send(hub, roomId, `original ${i}`, { clientMsgId: `retry-${i}` });
        originals.push({ _id: message._id, clientMsgId: `retry-${i}` });
      }
      const from = server.logs.length;
      // Retries as after a lost acknowledgement: same clientMsgId, over both transports.
      const again = await send(hub, roomId, 'original 39', { clientMsgId: 'retry-39' });
      expect(again._id).toBe(originals[39]!._id);
      const rest = await apiClient(server.baseUrl).post('/api/messages', { roomId, content: 'original 3', clientMsgId: 'retry-3' }, { token });
      expect(rest.status).toBe(200);
      expect(rest.body.message._id).toBe(originals[3]!._id);
      expect(clientMsgIdQueries(server, from)).toEqual([]);
      await hub.close();
    } finally {
      expect(await server.stop()).toBe(0);
    }

    // After a restart every in-flight message comes back as such a retry.
    server = await startChatd({ embedded: true, dataDir, env: SERVER_ENV });
    try {
      const hub = await HubClient.connect(server.wsUrl, { token });
      await joinRoom(hub, roomId);
      const from = server.logs.length;
      const retried = await Promise.all(originals.slice(30).map((original, i) => send(hub, roomId, `original ${30 + i}`, { clientMsgId: original.clientMsgId })));
      expect(retried.map((message) => message._id)).toEqual(originals.slice(30).map((original) => original._id));
      expect(clientMsgIdQueries(server, from)).toEqual([]);
      // A fresh clientMsgId is still a new message.
      const fresh = await send(hub, roomId, 'new', { clientMsgId: 'retry-new' });
      expect(originals.map((original) => original._id)).not.toContain(fresh._id);
      await hub.close();
    } finally {
      expect(await server.stop()).toBe(0);
    }
  });
});
