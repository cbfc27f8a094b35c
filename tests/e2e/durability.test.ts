import { ObjectId } from 'mongodb';
import { describe, expect, it } from 'vitest';
import { apiClient } from '../support/api.js';
import { connectTestDb, testDatabaseUri } from '../support/chatd.js';
import { createUser } from '../support/factories.js';
import { HubClient, type Frame } from '../support/hub-client.js';
import { startChatdRetrying } from '../support/messaging.js';

describe('durability', () => {
  it('loses no acknowledged message when SIGTERM arrives right after the acks, and retries stay idempotent across the restart', async () => {
    const mongoUri = testDatabaseUri('durable');
    const env = { WS_EVENTS_PER_SECOND: '10000', WS_USER_EVENTS_PER_SECOND: '10000', MESSAGE_FLUSH_MS: '5' };
    const first = await startChatdRetrying({ mongoUri, env });
    const { client, db } = await connectTestDb(mongoUri);
    try {
      const alice = await createUser(db);
      const api = apiClient(first.baseUrl);
      const roomId = (await api.post('/api/rooms', { name: 'durable', type: 'private' }, { token: alice.token })).body.room._id as string;
      const hub = await HubClient.connect(first.wsUrl, { token: alice.token });

      const total = 400;
      const acked = new Map<string, string>();
      let enough!: () => void;
      const halfAcked = new Promise<void>((resolve) => (enough = resolve));
      hub.socket.on('message', (raw) => {
        const frame = JSON.parse(String(raw)) as Frame;
        if (frame.event === 'message_sent') {
          acked.set(frame.data.message.clientMsgId, frame.data.message._id);
          if (acked.size === 50) enough();
        }
      });
      for (let i = 0; i < total; i += 1) hub.send('send_message', { roomId, content: `burst ${i}`, clientMsgId: `burst-${i}` }, `s${i}`);
      await halfAcked;
      const code = await first.stop('SIGTERM');
      expect(code).toBe(0);

      const ackedIds = [...acked.values()].map((id) => new ObjectId(id));
      expect(ackedIds.length).toBeGreaterThanOrEqual(50);
      expect(await db.collection('messages').countDocuments({ _id: { $in: ackedIds } })).toBe(ackedIds.length);

      // Restarted on the same database: every acknowledged message is served, and resending the
      // whole burst with the same clientMsgIds stores each message exactly once.
      const second = await startChatdRetrying({ mongoUri, env });
      try {
        const api2 = apiClient(second.baseUrl);
        const stored = new Set<string>();
        let after = '000000000000000000000000';
        for (;;) {
          const page = await api2.get(`/api/messages?roomId=${roomId}&after=${after}&limit=100`, { token: alice.token });
          for (const message of page.body.messages) stored.add(message._id);
          if (!page.body.hasMore) break;
          after = page.body.messages.at(-1)._id;
        }
        for (const id of acked.values()) expect(stored.has(id)).toBe(true);

        const resent = await Promise.all(
          Array.from({ length: total }, (_, i) => api2.post('/api/messages', { roomId, content: `burst ${i}`, clientMsgId: `burst-${i}` }, { token: alice.token })),
        );
        for (const [i, response] of resent.entries()) {
          expect([200, 201]).toContain(response.status);
          const ackedId = acked.get(`burst-${i}`);
          if (ackedId) expect(response).toMatchObject({ status: 200, body: { message: { _id: ackedId } } });
        }
        expect(await db.collection('messages').countDocuments({ roomId: new ObjectId(roomId) })).toBe(total);
        // New ids sort after everything stored before the restart.
        const newest = resent.map((r) => r.body.message._id as string).filter((id) => !stored.has(id)).sort()[0];
        if (newest) expect(newest > [...stored].sort().at(-1)!).toBe(true);
      } finally {
        await second.stop();
      }
    } finally {
      await client.close();
    }
  }, 120_000);
});
