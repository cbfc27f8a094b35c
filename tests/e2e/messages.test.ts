import { ObjectId } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join, messagingFixture, type MessagingFixture } from '../support/messaging.js';

let fx: MessagingFixture;

beforeAll(async () => {
  fx = await messagingFixture();
});
afterAll(async () => {
  await fx?.close();
});

describe('POST /api/messages', () => {
  it('stores and answers 201 with the message, broadcasting it like the hub does', async () => {
    const [alice, bob] = await fx.users(2);
    const roomId = await fx.room(alice!, [bob!]);
    const b = await fx.connect(bob!);
    await join(b, roomId);
    const heard = b.next('new_message');
    const response = await fx.api.post('/api/messages', { roomId, content: '  over REST  ', clientMsgId: 'rest-1' }, { token: alice!.token });
    expect(response.status).toBe(201);
    expect(response.body).toMatchObject({ success: true, message: { roomId, senderId: alice!.id, content: 'over REST', clientMsgId: 'rest-1', readBy: [], reactions: [], isDeleted: false } });
    expect((await heard).data.message).toEqual(response.body.message);
    expect(await fx.db.collection('messages').countDocuments({ _id: new ObjectId(response.body.message._id as string) })).toBe(1);
  });

  it('generates a clientMsgId when the client gives none; retries with one return the stored message with 200', async () => {
    const [alice] = await fx.users(1);
    const roomId = await fx.room(alice!);
    const plain = await fx.api.post('/api/messages', { roomId, content: 'no key' }, { token: alice!.token });
    expect(plain.body.message.clientMsgId).toBe(plain.body.message._id);
    const first = await fx.api.post('/api/messages', { roomId, content: 'keyed', clientMsgId: 'k-1' }, { token: alice!.token });
    const concurrent = await Promise.all(Array.from({ length: 5 }, () => fx.api.post('/api/messages', { roomId, content: 'keyed', clientMsgId: 'k-1' }, { token: alice!.token })));
    expect(first.status).toBe(201);
    for (const retry of concurrent) expect(retry).toMatchObject({ status: 200, body: { message: { _id: first.body.message._id } } });
    expect(await fx.db.collection('messages').countDocuments({ roomId: new ObjectId(roomId) })).toBe(2);
    const otherRoom = await fx.room(alice!);
    const reused = await fx.api.post('/api/messages', { roomId: otherRoom, content: 'keyed', clientMsgId: 'k-1' }, { token: alice!.token });
    expect(reused).toMatchObject({ status: 409, body: { error: { code: 'CONFLICT' } } });
  });

  it('keeps clientMsgIds per sender: two senders may use the same one', async () => {
    const [alice, bob] = await fx.users(2);
    const roomId = await fx.room(alice!, [bob!]);
    const a = await fx.api.post('/api/messages', { roomId, content: 'from alice', clientMsgId: 'same' }, { token: alice!.token });
    const b = await fx.api.post('/api/messages', { roomId, content: 'from bob', clientMsgId: 'same' }, { token: bob!.token });
    expect([a.status, b.status]).toEqual([201, 201]);
    expect(a.body.message._id).not.toBe(b.body.message._id);
  });

  it('refuses non-members alike whether the room exists or not, and bad input with 400', async () => {
    const [alice, mallory] = await fx.users(2);
    const roomId = await fx.room(alice!);
    const existing = await fx.api.post('/api/messages', { roomId, content: 'hi' }, { token: mallory!.token });
    const missing = await fx.api.post('/api/messages', { roomId: new ObjectId().toHexString(), content: 'hi' }, { token: mallory!.token });
    expect(existing.status).toBe(403);
    expect(missing.body).toEqual(existing.body);
    for (const body of [{ roomId, content: '' }, { roomId, content: 'x'.repeat(10_001) }, { roomId: { $gt: '' }, content: 'x' }, { roomId, content: 'x', senderId: mallory!.id }, { content: 'x' }]) {
      const response = await fx.api.post('/api/messages', body, { token: alice!.token });
      expect(response.status, JSON.stringify(body).slice(0, 80)).toBe(400);
    }
    expect((await fx.api.post('/api/messages', { roomId, content: 'x' })).status).toBe(401);
    expect(await fx.db.collection('messages').countDocuments({ roomId: new ObjectId(roomId) })).toBe(0);
  });
});

describe('GET /api/messages', () => {
  it('pages history newest first by page and by before cursor, limit at most 100', async () => {
    const [alice, mallory] = await fx.users(2);
    const roomId = await fx.room(alice!);
    const sent = await Promise.all(Array.from({ length: 25 }, (_, i) => fx.api.post('/api/messages', { roomId, content: `n${i}` }, { token: alice!.token })));
    const ids = sent.map((r) => r.body.message._id as string).sort();
    const newestFirst = [...ids].reverse();

    const page1 = await fx.api.get(`/api/messages?roomId=${roomId}&limit=10`, { token: alice!.token });
    expect(page1.body).toMatchObject({ success: true, page: 1, hasMore: true });
    expect(page1.body.messages.map((m: any) => m._id)).toEqual(newestFirst.slice(0, 10));
    const page3 = await fx.api.get(`/api/messages?roomId=${roomId}&limit=10&page=3`, { token: alice!.token });
    expect(page3.body).toMatchObject({ page: 3, hasMore: false });
    expect(page3.body.messages.map((m: any) => m._id)).toEqual(newestFirst.slice(20));
    const before = await fx.api.get(`/api/messages?roomId=${roomId}&limit=10&before=${newestFirst[9]}`, { token: alice!.token });
    expect(before.body.messages.map((m: any) => m._id)).toEqual(newestFirst.slice(10, 20));
    const all = await fx.api.get(`/api/messages?roomId=${roomId}&limit=100`, { token: alice!.token });
    expect(all.body.messages).toHaveLength(25);

    for (const query of ['limit=101', 'limit=0', 'page=0', 'before=nope', `before=${ids[0]}&after=${ids[1]}`, 'roomId[$gt]=', 'extra=1']) {
      expect((await fx.api.get(`/api/messages?roomId=${roomId}&${query}`, { token: alice!.token })).status, query).toBe(400);
    }
    expect((await fx.api.get('/api/messages?roomId=zzz', { token: alice!.token })).status).toBe(400);
    const outsider = await fx.api.get(`/api/messages?roomId=${roomId}`, { token: mallory!.token });
    expect(outsider.status).toBe(403);
    expect((await fx.api.get(`/api/messages?roomId=${new ObjectId().toHexString()}`, { token: mallory!.token })).body).toEqual(outsider.body);
  });

  it('answers after=<id> with what came later, oldest first, and the changes to older messages', async () => {
    const [alice, bob] = await fx.users(2);
    const roomId = await fx.room(alice!, [bob!]);
    const a = await fx.connect(alice!);
    const first = (await fx.api.post('/api/messages', { roomId, content: 'first' }, { token: alice!.token })).body.message;
    const cursor = (await fx.api.post('/api/messages', { roomId, content: 'cursor' }, { token: alice!.token })).body.message;
    const later1 = (await fx.api.post('/api/messages', { roomId, content: 'later 1' }, { token: bob!.token })).body.message;
    const later2 = (await fx.api.post('/api/messages', { roomId, content: 'later 2' }, { token: bob!.token })).body.message;
    expect((await a.request('delete_message', first._id)).event).toBe('message_deleted');
    const changes = await fx.api.get(`/api/messages?roomId=${roomId}&after=${cursor._id}`, { token: bob!.token });
    expect(changes.body.messages.map((m: any) => m._id)).toEqual([later1._id, later2._id]);
    expect(changes.body.updated.find((m: any) => m._id === first._id)).toMatchObject({ isDeleted: true, content: null, fileAttachment: null });
    expect(changes.body).toMatchObject({ hasMore: false, updatesTruncated: false });
  });
});
