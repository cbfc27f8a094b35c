import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { apiClient } from '../support/api.js';
import { startChatd, type ChatdServer } from '../support/chatd.js';
import { createUser } from '../support/factories.js';
import { HubClient } from '../support/hub-client.js';
import { join as joinRoom, send } from '../support/messaging.js';
import { connectEmbedded } from '../support/ops.js';

// On the embedded database chatd answers history, resume, unread counts and file access from a
// message index it keeps in memory, saves when it stops and rebuilds after a crash. Whatever
// happened to the process, clients must see the same answers.

const dataDir = mkdtempSync(join(tmpdir(), 'chatd-message-index-'));
let server: ChatdServer | undefined;

afterAll(async () => {
  await server?.stop();
});

const logged = (message: string) => server!.logs.some((line) => line.includes(message));

describe('the message index across restarts of chatd on the embedded database', { timeout: 240_000 }, () => {
  it('answers the same after a clean stop (index loaded) and after a crash (index rebuilt)', async () => {
    server = await startChatd({ embedded: true, dataDir, env: { WS_EVENTS_PER_SECOND: '500', WS_USER_EVENTS_PER_SECOND: '500' } });
    const { client, db } = await connectEmbedded(dataDir);
    const [alice, bob, carol] = await Promise.all([createUser(db), createUser(db), createUser(db)]);
    await client.close();
    let api = apiClient(server.baseUrl);
    const roomId = (await api.post('/api/rooms', { name: 'family', type: 'private' }, { token: alice.token })).body.room._id as string;
    for (const member of [bob, carol]) expect((await api.post(`/api/rooms/${roomId}/members`, { userId: member.id }, { token: alice.token })).status).toBe(201);

    let a = await HubClient.connect(server.wsUrl, { token: alice.token });
    let b = await HubClient.connect(server.wsUrl, { token: bob.token });
    const sent: any[] = [];
    for (let i = 0; i < 30; i++) sent.push(await send(i % 2 ? b : a, roomId, `message ${i}`));
    const form = new FormData();
    form.append('file', new Blob([Buffer.from('GIF89a tiny picture')], { type: 'image/gif' }), 'tiny.gif');
    const upload = await fetch(`${server.baseUrl}/api/files`, { method: 'POST', body: form, headers: { Authorization: `Bearer ${alice.token}` } });
    const fileId = ((await upload.json()) as { file: { fileId: string } }).file.fileId;
    sent.push(await send(a, roomId, 'a picture', { fileAttachment: { fileId } }));
    const cursor = sent[20]._id as string;
    expect((await b.request('add_reaction', { messageId: sent[3]._id, emoji: '🎉' })).event).toBe('reaction_added');
    expect((await a.request('edit_message', { messageId: sent[4]._id, content: 'message 4, edited' })).event).toBe('message_edited');
    expect((await a.request('delete_message', sent[6]._id)).event).toBe('message_deleted');
    expect((await b.request('mark_message_read', sent[10]._id)).event).toBe('message_read');
    await Promise.all([a.close(), b.close()]);

    /** What carol sees: history, her unread count, a resume from the cursor, the shared file. */
    const look = async () => {
      const history = await api.get(`/api/messages?roomId=${roomId}&limit=100`, { token: carol.token });
      const list = await api.get('/api/rooms', { token: carol.token });
      const hub = await HubClient.connect(server!.wsUrl, { token: carol.token });
      const resumed = await joinRoom(hub, roomId, cursor);
      await hub.close();
      const file = await fetch(`${server!.baseUrl}/api/files/${fileId}`, { headers: { Authorization: `Bearer ${carol.token}` } });
      return {
        history: history.body.messages.map((m: any) => [m._id, m.content, m.isDeleted, m.reactions.length, m.readBy.length]),
        unread: list.body.rooms[0].unreadCount,
        lastMessage: list.body.rooms[0].lastMessage._id,
        after: resumed.data.messages.map((m: any) => m._id),
        updated: resumed.data.updated.map((m: any) => m._id).sort(),
        file: file.status,
      };
    };
    const before = await look();
    expect(before.history).toHaveLength(31);
    expect(before.unread).toBe(30);
    expect(before.after).toEqual(sent.slice(21).map((m) => m._id));
    expect(before.updated).toEqual([sent[3]._id, sent[4]._id, sent[6]._id, sent[10]._id].sort());
    expect(before.file).toBe(200);

    expect(await server.stop()).toBe(0);
    expect(logged('saved the message index')).toBe(true);
    server = await startChatd({ embedded: true, dataDir, env: { WS_EVENTS_PER_SECOND: '500', WS_USER_EVENTS_PER_SECOND: '500' } });
    api = apiClient(server.baseUrl);
    expect(await look()).toEqual(before);
    expect(logged('loaded the message index')).toBe(true);
    expect(logged('rebuilding the message index')).toBe(false);

    // More happens, then the process dies without saving anything.
    a = await HubClient.connect(server.wsUrl, { token: alice.token });
    const late = [await send(a, roomId, 'after the restart'), await send(a, roomId, 'and one more')];
    expect((await a.request('delete_message', sent[12]._id)).event).toBe('message_deleted');
    await a.close();
    expect(await server.stop('SIGKILL')).toBeNull();
    server = await startChatd({ embedded: true, dataDir, env: { WS_EVENTS_PER_SECOND: '500', WS_USER_EVENTS_PER_SECOND: '500' } });
    api = apiClient(server.baseUrl);
    const after = await look();
    expect(logged('rebuilding the message index')).toBe(true);
    expect(after.history.slice(0, 2).map((row: unknown[]) => row[0])).toEqual(late.map((m) => m._id).reverse());
    expect(after.history.find((row: unknown[]) => row[0] === sent[12]._id)[2]).toBe(true);
    expect(after.unread).toBe(31);
    expect(after.updated).toEqual([sent[3]._id, sent[4]._id, sent[6]._id, sent[10]._id, sent[12]._id].sort());
    expect(after.file).toBe(200);
  });
});
