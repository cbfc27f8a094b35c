import { connect } from 'node:net';
import { ObjectId } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HubClient } from '../support/hub-client.js';
import { join, messagingFixture, send, type MessagingFixture } from '../support/messaging.js';

let fx: MessagingFixture;

beforeAll(async () => {
  // A generous event rate: these tests send quickly on purpose; the rate limit has its own test below.
  fx = await messagingFixture({ env: { WS_EVENTS_PER_SECOND: '500', WS_USER_EVENTS_PER_SECOND: '1000', WS_REFUSED_FRAMES_LIMIT: '10000' } });
});
afterAll(async () => {
  await fx?.close();
});

describe('send_message', () => {
  it('acknowledges the sender after storing, and delivers new_message to every joined member, not to others', async () => {
    const [alice, bob, carol, dave] = await fx.users(4);
    const roomId = await fx.room(alice!, [bob!, carol!]);
    const otherRoom = await fx.room(dave!);
    const [a, b, c, d] = await Promise.all([alice, bob, carol, dave].map((u) => fx.connect(u!)));
    await Promise.all([join(a!, roomId), join(b!, roomId), join(c!, roomId), join(d!, otherRoom)]);

    const atBob = b!.next('new_message');
    const atCarol = c!.next('new_message');
    const message = await send(a!, roomId, '  hello room  ', { clientMsgId: 'first-1' });
    // message_sent means stored: the document is in the database when the ack arrives.
    const stored = await fx.db.collection('messages').findOne({ _id: new ObjectId(message._id) });
    expect(stored).toMatchObject({ content: 'hello room', clientMsgId: 'first-1', isDeleted: false, readBy: [], reactions: [] });
    expect(message).toMatchObject({ roomId, senderId: alice!.id, content: 'hello room', messageType: 'text', encrypted: false, fileAttachment: null, isDeleted: false });
    expect((await atBob).data.message).toEqual(message);
    expect((await atCarol).data.message).toEqual(message);
    await d!.settle(200);
    expect(d!.received('new_message')).toHaveLength(0);
  });

  it('refuses a non-member with FORBIDDEN and broadcasts nothing, whether the room exists or not', async () => {
    const [alice, bob, mallory] = await fx.users(3);
    const roomId = await fx.room(alice!, [bob!]);
    const [b, m] = await Promise.all([fx.connect(bob!), fx.connect(mallory!)]);
    await join(b!, roomId);
    const existing = await m!.request('send_message', { roomId, content: 'let me in' });
    const missing = await m!.request('send_message', { roomId: new ObjectId().toHexString(), content: 'let me in' });
    expect(existing).toMatchObject({ event: 'error', data: { code: 'FORBIDDEN' } });
    expect(missing.data).toEqual(existing.data);
    expect((await m!.request('join_room', { roomId })).data.code).toBe('FORBIDDEN');
    await b!.settle(200);
    expect(b!.received('new_message')).toHaveLength(0);
    expect(await fx.db.collection('messages').countDocuments({ roomId: new ObjectId(roomId) })).toBe(0);
  });

  it('stores one message for a retry with the same clientMsgId, and answers the retry with it', async () => {
    const [alice, bob] = await fx.users(2);
    const roomId = await fx.room(alice!, [bob!]);
    const [a, b] = await Promise.all([fx.connect(alice!), fx.connect(bob!)]);
    await join(b!, roomId);
    const first = await a!.request('send_message', { roomId, content: 'once', clientMsgId: 'retry-me' });
    const retry = await a!.request('send_message', { roomId, content: 'once', clientMsgId: 'retry-me' });
    expect(first.data.duplicate).toBe(false);
    expect(retry.data).toEqual({ message: first.data.message, duplicate: true });
    // Retries racing the original (still waiting for its batch) join it.
    const racing = await Promise.all([1, 2, 3].map(() => a!.request('send_message', { roomId, content: 'racing', clientMsgId: 'race-1' })));
    expect(new Set(racing.map((reply) => reply.data.message._id)).size).toBe(1);
    expect(await fx.db.collection('messages').countDocuments({ senderId: new ObjectId(alice!.id), clientMsgId: { $in: ['retry-me', 'race-1'] } })).toBe(2);
    await b!.settle(200);
    expect(b!.received('new_message').map((f) => f.data.message.content)).toEqual(['once', 'racing']);
  });

  it('delivers to every connection of a user (devices)', async () => {
    const [alice, bob] = await fx.users(2);
    const roomId = await fx.room(alice!, [bob!]);
    const [a, phone, laptop] = await Promise.all([fx.connect(alice!), fx.connect(bob!), fx.connect(bob!)]);
    await Promise.all([join(phone!, roomId), join(laptop!, roomId)]);
    const both = Promise.all([phone!.next('new_message'), laptop!.next('new_message')]);
    const message = await send(a!, roomId, 'to all devices');
    expect((await both).map((f) => f.data.message._id)).toEqual([message._id, message._id]);
  });

  it('validates content: empty after trimming, too long, unknown fields, a type without a file', async () => {
    const [alice] = await fx.users(1);
    const roomId = await fx.room(alice!);
    const a = await fx.connect(alice!);
    for (const data of [
      { roomId, content: '   ' },
      { roomId, content: 'x'.repeat(10_001) },
      { roomId, content: 'hi', extra: true },
      { roomId, content: 'hi', clientMsgId: 'has spaces' },
      { roomId, content: 'hi', messageType: 'sticker' },
    ]) {
      expect((await a!.request('send_message', data)).data.code).toBe('VALIDATION_FAILED');
    }
    expect((await a!.request('send_message', { roomId, content: 'hi', messageType: 'image' })).data.code).toBe('VALIDATION_FAILED');
    expect((await a!.request('send_message', { roomId, content: 'x'.repeat(10_000) })).event).toBe('message_sent');
  });
});

describe('join_room and resume', () => {
  it('answers with the latest 50 messages, oldest first', async () => {
    const [alice] = await fx.users(1);
    const roomId = await fx.room(alice!);
    for (let i = 0; i < 60; i += 1) {
      const sent = await fx.api.post('/api/messages', { roomId, content: `m${i}` }, { token: alice!.token });
      expect(sent.status).toBe(201);
    }
    const a = await fx.connect(alice!);
    const history = await join(a!, roomId);
    expect(history.data.roomId).toBe(roomId);
    expect(history.data.messages.map((m: any) => m.content)).toEqual(Array.from({ length: 50 }, (_, i) => `m${i + 10}`));
    expect(history.data.hasMore).toBe(true);
  });

  it('replays exactly what a disconnected client missed, in order, and the edits and deletes since', async () => {
    const [alice, bob] = await fx.users(2);
    const roomId = await fx.room(alice!, [bob!]);
    const a = await fx.connect(alice!);
    let b = await fx.connect(bob!);
    await join(b, roomId);
    const older = await send(a!, roomId, 'older');
    const last = await send(a!, roomId, 'seen by bob');
    await b.next('new_message', (d) => d.message._id === last._id);
    await b.close();

    const missed1 = await send(a!, roomId, 'missed one');
    const missed2 = await send(a!, roomId, 'missed two');
    expect((await a!.request('edit_message', { messageId: older._id, content: 'older, edited' })).event).toBe('message_edited');
    expect((await a!.request('delete_message', last._id)).event).toBe('message_deleted');

    b = await fx.connect(bob!);
    const resumed = await join(b, roomId, last._id);
    expect(resumed.data.messages.map((m: any) => m._id)).toEqual([missed1._id, missed2._id]);
    expect(resumed.data.hasMore).toBe(false);
    const updated = new Map(resumed.data.updated.map((m: any) => [m._id, m]));
    expect(updated.get(older._id)).toMatchObject({ content: 'older, edited', editHistory: [{ content: 'older' }] });
    expect(updated.get(last._id)).toMatchObject({ isDeleted: true, content: null });
  });

  it('leave_room stops the live messages of that room', async () => {
    const [alice, bob] = await fx.users(2);
    const roomId = await fx.room(alice!, [bob!]);
    const [a, b] = await Promise.all([fx.connect(alice!), fx.connect(bob!)]);
    await join(b!, roomId);
    expect(await b!.request('leave_room', { roomId })).toMatchObject({ event: 'room_left', data: { roomId } });
    await send(a!, roomId, 'nobody listening');
    await b!.settle(200);
    expect(b!.received('new_message')).toHaveLength(0);
  });

  it('leaving the room over REST unsubscribes every connection of the user', async () => {
    const [alice, bob] = await fx.users(2);
    const roomId = await fx.room(alice!, [bob!]);
    const [a, b] = await Promise.all([fx.connect(alice!), fx.connect(bob!)]);
    await Promise.all([join(a!, roomId), join(b!, roomId)]);
    const left = a!.next('member_left');
    expect((await fx.api.post(`/api/rooms/${roomId}/leave`, undefined, { token: bob!.token })).status).toBe(200);
    expect((await left).data).toEqual({ roomId, userId: bob!.id });
    await send(a!, roomId, 'after bob left');
    await b!.settle(200);
    expect(b!.received('new_message')).toHaveLength(0);
    expect((await b!.request('send_message', { roomId, content: 'still here?' })).data.code).toBe('FORBIDDEN');
  });
});

describe('receipts, reactions, edits and deletes', () => {
  it('mark_message_read adds one receipt per user, moves the read marker and tells the room', async () => {
    const [alice, bob] = await fx.users(2);
    const roomId = await fx.room(alice!, [bob!]);
    const [a, b] = await Promise.all([fx.connect(alice!), fx.connect(bob!)]);
    await join(a!, roomId);
    const first = await send(a!, roomId, 'one');
    const second = await send(a!, roomId, 'two');
    const third = await send(a!, roomId, 'three');
    const broadcast = a!.next('message_read');
    const reply = await b!.request('mark_message_read', second._id);
    expect(reply).toMatchObject({ event: 'message_read', data: { messageId: second._id, roomId, userId: bob!.id } });
    expect((await broadcast).data).toMatchObject({ messageId: second._id, userId: bob!.id });
    expect((await b!.request('mark_message_read', { messageId: second._id })).event).toBe('message_read');
    // An older message does not move the marker back.
    expect((await b!.request('mark_message_read', { messageId: first._id })).event).toBe('message_read');
    const stored = await fx.db.collection('messages').findOne({ _id: new ObjectId(second._id) });
    expect(stored!.readBy).toHaveLength(1);
    const membership = await fx.db.collection('memberships').findOne({ roomId: new ObjectId(roomId), userId: new ObjectId(bob!.id) });
    expect(membership!.lastReadMessageId.toHexString()).toBe(second._id);
    const mine = await fx.api.get('/api/rooms', { token: bob!.token });
    expect(mine.body.rooms.find((r: any) => r._id === roomId)).toMatchObject({ unreadCount: 1, lastMessage: { _id: third._id } });
  });

  it('reactions: one per user and emoji, at most 20 distinct, validated, broadcast both ways', async () => {
    const [alice, bob] = await fx.users(2);
    const roomId = await fx.room(alice!, [bob!]);
    const [a, b] = await Promise.all([fx.connect(alice!), fx.connect(bob!)]);
    await join(a!, roomId);
    const message = await send(a!, roomId, 'react to me');
    const added = a!.next('reaction_added');
    const reply = await b!.request('add_reaction', { messageId: message._id, emoji: '👍🏽' });
    expect(reply.data).toMatchObject({ messageId: message._id, emoji: '👍🏽', changed: true, reactions: [{ emoji: '👍🏽', userId: bob!.id }] });
    expect((await added).data.reactions).toHaveLength(1);
    expect((await b!.request('add_reaction', { messageId: message._id, emoji: '👍🏽' })).data).toMatchObject({ changed: false, reactions: [{ emoji: '👍🏽' }] });
    // A text-style heart is stored in its emoji form.
    expect((await a!.request('add_reaction', { messageId: message._id, emoji: '❤' })).data.emoji).toBe('❤️');
    for (const emoji of ['a', '👍👍', '<b>', '', 42]) {
      expect((await b!.request('add_reaction', { messageId: message._id, emoji })).data.code).toBe('VALIDATION_FAILED');
    }
    const more = ['😀', '😂', '😍', '🎉', '🔥', '🙏', '👀', '💯', '✅', '🚀', '🤔', '😢', '😡', '👏', '🙌', '🍕', '☕', '🌈'];
    for (const emoji of more) expect((await b!.request('add_reaction', { messageId: message._id, emoji })).event).toBe('reaction_added');
    expect((await b!.request('add_reaction', { messageId: message._id, emoji: '🦄' })).data.code).toBe('CONFLICT');
    // An emoji already present can still be added by someone else.
    expect((await a!.request('add_reaction', { messageId: message._id, emoji: '🍕' })).data.changed).toBe(true);
    const removed = a!.next('reaction_removed');
    expect((await b!.request('remove_reaction', { messageId: message._id, emoji: '👍🏽' })).data.changed).toBe(true);
    expect((await removed).data).toMatchObject({ userId: bob!.id, emoji: '👍🏽' });
    const stored = await fx.db.collection('messages').findOne({ _id: new ObjectId(message._id) });
    expect(stored!.reactions).toHaveLength(20);
  });

  it('edit_message: the author only, with history, broadcast to the room', async () => {
    const [alice, bob] = await fx.users(2);
    const roomId = await fx.room(alice!, [bob!]);
    const [a, b] = await Promise.all([fx.connect(alice!), fx.connect(bob!)]);
    await join(b!, roomId);
    const message = await send(a!, roomId, 'first draft');
    expect((await b!.request('edit_message', { messageId: message._id, content: 'hijacked' })).data.code).toBe('FORBIDDEN');
    const broadcast = b!.next('message_edited');
    const reply = await a!.request('edit_message', { messageId: message._id, content: 'second draft' });
    expect(reply.data.message).toMatchObject({ content: 'second draft', editHistory: [{ content: 'first draft' }] });
    expect(reply.data.message.editedAt).toBeTruthy();
    expect((await broadcast).data.message.content).toBe('second draft');
    expect((await a!.request('edit_message', { messageId: message._id, content: '' })).data.code).toBe('VALIDATION_FAILED');
  });

  it('delete_message: the author, or an owner or admin; deleted messages lose content everywhere', async () => {
    const [owner, admin, member, other] = await fx.users(4);
    const roomId = await fx.room(owner!, [member!, other!]);
    expect((await fx.api.post(`/api/rooms/${roomId}/members`, { userId: admin!.id, role: 'admin' }, { token: owner!.token })).status).toBe(201);
    const [o, ad, m, ot] = await Promise.all([owner, admin, member, other].map((u) => fx.connect(u!)));
    await join(o!, roomId);
    const byMember = await send(m!, roomId, 'member says');
    const byOther = await send(ot!, roomId, 'other says');
    const byOwner = await send(o!, roomId, 'owner says');
    expect((await m!.request('delete_message', byOther._id)).data.code).toBe('FORBIDDEN');
    expect((await m!.request('delete_message', { messageId: byOwner._id })).data.code).toBe('FORBIDDEN');
    const broadcast = o!.next('message_deleted');
    expect((await m!.request('delete_message', byMember._id)).data.message).toMatchObject({ isDeleted: true, content: null });
    expect((await broadcast).data.message).toMatchObject({ _id: byMember._id, isDeleted: true, content: null, editHistory: [] });
    expect((await ad!.request('delete_message', byOther._id)).data.message.isDeleted).toBe(true);
    expect((await o!.request('delete_message', byOwner._id)).data.message.isDeleted).toBe(true);
    expect((await m!.request('edit_message', { messageId: byMember._id, content: 'undo' })).data.code).toBe('NOT_FOUND');
    const history = await fx.api.get(`/api/messages?roomId=${roomId}`, { token: member!.token });
    expect(history.body.messages.map((x: any) => [x.isDeleted, x.content])).toEqual([[true, null], [true, null], [true, null]]);
    const stored = await fx.db.collection('messages').findOne({ _id: new ObjectId(byMember._id) });
    expect(stored).toMatchObject({ isDeleted: true, content: 'member says' });
    expect(stored!.deletedAt).toBeInstanceOf(Date);
  });

  it('refuses every message event from a non-member with FORBIDDEN, whether the message exists or not', async () => {
    const [alice, mallory] = await fx.users(2);
    const roomId = await fx.room(alice!);
    const [a, m] = await Promise.all([fx.connect(alice!), fx.connect(mallory!)]);
    const message = await send(a!, roomId, 'private');
    const missing = new ObjectId().toHexString();
    for (const messageId of [message._id, missing]) {
      for (const [event, data] of [
        ['mark_message_read', messageId],
        ['add_reaction', { messageId, emoji: '👍' }],
        ['remove_reaction', { messageId, emoji: '👍' }],
        ['edit_message', { messageId, content: 'mine now' }],
        ['delete_message', { messageId }],
      ] as const) {
        expect((await m!.request(event, data)).data).toMatchObject({ code: 'FORBIDDEN', message: 'No such message in your rooms' });
      }
    }
    for (const [event, data] of [
      ['join_room', { roomId }],
      ['leave_room', { roomId }],
      ['user_typing', { roomId, isTyping: true }],
    ] as const) {
      expect((await m!.request(event, data)).data.code).toBe('FORBIDDEN');
    }
    const stored = await fx.db.collection('messages').findOne({ _id: new ObjectId(message._id) });
    expect(stored).toMatchObject({ content: 'private', readBy: [], reactions: [], isDeleted: false });
  });
});

describe('hostile input', () => {
  it('answers operator objects and malformed ids in every id field with VALIDATION_FAILED', async () => {
    const [alice] = await fx.users(1);
    const roomId = await fx.room(alice!);
    const a = await fx.connect(alice!);
    const message = await send(a!, roomId, 'target');
    const bad: unknown[] = [{ $gt: '' }, { $ne: null }, 'not-an-id', '0'.repeat(23), `${roomId}x`, 42, null, ['a'], { $where: '1' }];
    for (const id of bad) {
      for (const [event, data] of [
        ['join_room', { roomId: id }],
        ['join_room', { roomId, since: id }],
        ['leave_room', { roomId: id }],
        ['send_message', { roomId: id, content: 'x' }],
        ['send_message', { roomId, content: 'x', fileAttachment: { fileId: id } }],
        ['mark_message_read', id],
        ['mark_message_read', { messageId: id }],
        ['add_reaction', { messageId: id, emoji: '👍' }],
        ['remove_reaction', { messageId: id, emoji: '👍' }],
        ['edit_message', { messageId: id, content: 'x' }],
        ['delete_message', id],
        ['delete_message', { messageId: id }],
        ['user_typing', { roomId: id, isTyping: true }],
      ] as const) {
        const reply = await a!.request(event, data);
        expect(reply.data.code, `${event} ${JSON.stringify(data)}`).toBe('VALIDATION_FAILED');
      }
    }
    expect((await a!.request('send_message', { roomId, content: { $gt: '' } })).data.code).toBe('VALIDATION_FAILED');
    const stored = await fx.db.collection('messages').findOne({ _id: new ObjectId(message._id) });
    expect(stored).toMatchObject({ content: 'target', isDeleted: false });
  });

  it('survives a 1 MiB frame and invalid JSON, and keeps serving', async () => {
    const [alice] = await fx.users(1);
    const roomId = await fx.room(alice!);
    const a = await fx.connect(alice!);
    a!.sendRaw('{"event":"send_message","data":');
    expect((await a!.next('error')).data.code).toBe('VALIDATION_FAILED');
    a!.sendRaw(JSON.stringify({ event: 'send_message', data: { roomId, content: 'x'.repeat(1024 * 1024) } }));
    const outcome = await Promise.race([a!.next('error').then((f) => f.data.code), a!.closed.then((c) => `closed ${c.code}`)]);
    expect(['PAYLOAD_TOO_LARGE', 'closed 1009', 'closed 1006']).toContain(outcome);
    const fresh = await fx.connect(alice!);
    expect((await send(fresh, roomId, 'still serving')).content).toBe('still serving');
  });

  it('throttles a flood of 1000 typing events without affecting the sender or anyone else', async () => {
    const [alice, bob, carol, dave] = await fx.users(4);
    const roomId = await fx.room(alice!, [bob!]);
    const quietRoom = await fx.room(carol!, [dave!]);
    const [a, b, c, d] = await Promise.all([alice, bob, carol, dave].map((u) => fx.connect(u!)));
    await Promise.all([join(a!, roomId), join(b!, roomId), join(c!, quietRoom), join(d!, quietRoom)]);
    const first = b!.next('user_typing');
    for (let i = 0; i < 1000; i += 1) a!.send('user_typing', { roomId, isTyping: i % 2 === 0 });
    expect((await first).data).toEqual({ roomId, userId: alice!.id, username: alice!.username, isTyping: true });
    // Still answering the flooder, and the other room is untouched.
    const after = await send(a!, roomId, 'after the flood');
    await b!.next('new_message', (m) => m.message._id === after._id);
    const atDave = d!.next('new_message');
    await send(c!, quietRoom, 'elsewhere');
    await atDave;
    const relayed = b!.received('user_typing');
    expect(relayed.length).toBeGreaterThanOrEqual(1);
    expect(relayed.length).toBeLessThanOrEqual(4);
    expect(a!.received('user_typing')).toHaveLength(0);
    expect(a!.received('error')).toHaveLength(0);
    expect(d!.received('user_typing')).toHaveLength(0);
  });
});

describe('presence', () => {
  it('set_status is stored and reaches users who share a room, and only them', async () => {
    const [alice, bob, stranger] = await fx.users(3);
    await fx.room(alice!, [bob!]);
    const [a, b, s] = await Promise.all([fx.connect(alice!), fx.connect(bob!), fx.connect(stranger!)]);
    await s!.settle(300);
    const atBob = b!.next('user_status_changed', (d) => d.userId === alice!.id && d.status === 'away');
    const reply = await a!.request('set_status', { status: 'away', customStatus: 'at lunch' });
    expect(reply).toMatchObject({ event: 'status_updated', data: { userId: alice!.id, status: 'away', customStatus: 'at lunch' } });
    expect((await atBob).data).toMatchObject({ customStatus: 'at lunch' });
    const stored = await fx.db.collection('users').findOne({ _id: new ObjectId(alice!.id) });
    expect(stored).toMatchObject({ status: 'away', customStatus: 'at lunch' });
    await s!.settle(200);
    expect(s!.received('user_status_changed').filter((f) => f.data.userId === alice!.id)).toHaveLength(0);
    expect((await a!.request('set_status', { status: 'sleeping' })).data.code).toBe('VALIDATION_FAILED');
  });

  it('a user is online while any connection is open and offline with lastSeen when the last closes', async () => {
    const [alice, bob] = await fx.users(2);
    await fx.room(bob!, [alice!]);
    const b = await fx.connect(bob!);
    const online = b.next('user_status_changed', (d) => d.userId === alice!.id && d.status === 'online');
    const phone = await fx.connect(alice!);
    const laptop = await fx.connect(alice!);
    await online;
    await phone.close();
    await b.settle(300);
    expect(b.received('user_status_changed').filter((f) => f.data.userId === alice!.id).map((f) => f.data.status)).toEqual(['online']);
    const offline = b.next('user_status_changed', (d) => d.userId === alice!.id && d.status === 'offline');
    await laptop.close();
    expect((await offline).data.lastSeen).toBeTruthy();
    await expect.poll(async () => (await fx.db.collection('users').findOne({ _id: new ObjectId(alice!.id) }))!.status, { timeout: 5000 }).toBe('offline');
  });

  it('tells members who come online together about each other, once each', async () => {
    const users = await fx.users(30);
    await fx.room(users[0]!, users.slice(1));
    const hubs = await Promise.all(users.map((user) => fx.connect(user)));
    await hubs[0]!.settle(500);
    const told = hubs.map((hub) => hub.received('user_status_changed').filter((f) => f.data.status === 'online').map((f) => f.data.userId as string));
    for (const [i, names] of told.entries()) expect(new Set(names).size, `connection ${i} heard someone twice`).toBe(names.length);
    // Whoever came online second announced themselves to the first.
    for (const [i, user] of users.entries()) {
      for (const [j, other] of users.entries()) {
        if (i < j) expect(told[i]!.includes(other.id) || told[j]!.includes(user.id), `${i} and ${j}`).toBe(true);
      }
    }
    await Promise.all(hubs.map((hub) => hub.close()));
  });

  it('refuses a handshake without "Connection: Upgrade" before anything is announced', async () => {
    // uWebSockets.js takes any five-letter Connection value for "close" and used to drop such a
    // socket right after `open`, once chatd had already announced the user online.
    const [alice, bob] = await fx.users(2);
    await fx.room(bob!, [alice!]);
    const b = await fx.connect(bob!);
    const port = Number(new URL(fx.server.wsUrl).port);
    const handshake = (connection: string) =>
      new Promise<string>((resolve, reject) => {
        const raw = connect(port, '127.0.0.1', () =>
          raw.write(
            `GET /ws HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: ${connection}\r\n` +
              `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nAuthorization: Bearer ${alice!.token}\r\n\r\n`,
          ),
        );
        let received = '';
        raw.on('data', (chunk) => {
          received += chunk.toString('latin1');
          if (received.includes('\r\n\r\n')) raw.destroy();
        });
        raw.on('close', () => resolve(received.split('\r\n')[0]!));
        raw.on('error', reject);
      });
    expect(await handshake('close')).toBe('HTTP/1.1 400 Bad Request');
    await b.settle(300);
    expect(b.received('user_status_changed').filter((f) => f.data.userId === alice!.id)).toEqual([]);
    // Dropped right after the 101, while its token is still being checked: announced not at all, or online and then offline.
    expect(await handshake('keep-alive, Upgrade')).toBe('HTTP/1.1 101 Switching Protocols');
    await b.settle(300);
    const statuses = () => b.received('user_status_changed').filter((f) => f.data.userId === alice!.id).map((f) => f.data.status);
    if (statuses().length === 1) await b.next('user_status_changed', (d) => d.userId === alice!.id && d.status === 'offline');
    expect([[], ['online', 'offline']]).toContainEqual(statuses());
  });
});

describe('limits', () => {
  it('answers a client over the event rate with RATE_LIMITED and stores only what it acknowledged', async () => {
    const limited = await messagingFixture({ env: { WS_EVENTS_PER_SECOND: '5' } });
    try {
      const [alice] = await limited.users(1);
      const roomId = await limited.room(alice!);
      const a = await limited.connect(alice!);
      const replies = await Promise.all(Array.from({ length: 40 }, (_, i) => a.request('send_message', { roomId, content: `burst ${i}` })));
      const sent = replies.filter((r) => r.event === 'message_sent');
      const refused = replies.filter((r) => r.event === 'error');
      expect(refused.length).toBeGreaterThan(0);
      expect(refused.every((r) => r.data.code === 'RATE_LIMITED')).toBe(true);
      // It says when to retry and which setting sets the limit, as REST's 429 does.
      expect(refused[0]!.data).toMatchObject({ retryAfter: 1, setting: 'WS_EVENTS_PER_SECOND', message: expect.stringMatching(/at most 5 .*\(set by WS_EVENTS_PER_SECOND\)\. Try again in 1 second\./) });
      expect(await limited.db.collection('messages').countDocuments({ roomId: new ObjectId(roomId) })).toBe(sent.length);
    } finally {
      await limited.close();
    }
  });

  it('closes a consumer that cannot keep up; it resumes with since and misses nothing', async () => {
    const [alice, bob] = await fx.users(2);
    const roomId = await fx.room(alice!, [bob!]);
    const watcher = await fx.connect(alice!);
    const slow = await fx.connect(bob!);
    expect((await join(slow, roomId)).data.messages).toHaveLength(0);
    // The server closing bob's only connection shows to alice as bob going offline.
    const dropped = watcher.next('user_status_changed', (d) => d.userId === bob!.id && d.status === 'offline', 110_000);
    let closedByServer = false;
    void dropped.then(() => (closedByServer = true), () => undefined);
    // Stop reading: the kernel buffers fill, then the server's backlog for this socket passes its cap.
    const tcp = (slow.socket as unknown as { _socket: { pause(): void; resume(): void } })._socket;
    tcp.pause();
    const big = 'y'.repeat(9_900);
    const ids: string[] = [];
    for (let round = 0; round < 200 && !closedByServer; round += 1) {
      const batch = await Promise.all(Array.from({ length: 20 }, (_, i) => fx.api.post('/api/messages', { roomId, content: `${big} ${round}-${i}` }, { token: alice!.token })));
      for (const response of batch) ids.push(response.body.message._id);
    }
    await dropped;
    tcp.resume();
    const closed = await slow.closed;
    expect(closed.code).not.toBe(1000);
    const seen = slow.received('new_message').map((f) => f.data.message._id);
    expect(seen.length).toBeLessThan(ids.length);
    const again = await fx.connect(bob!);
    const resumed: string[] = [];
    let since = seen.at(-1) ?? '000000000000000000000000';
    for (;;) {
      const page = await again.request('join_room', { roomId, since }, 60_000);
      resumed.push(...page.data.messages.map((m: any) => m._id));
      if (!page.data.hasMore) break;
      since = resumed.at(-1)!;
    }
    expect([...seen, ...resumed]).toEqual(ids.slice().sort());
  }, 120_000);
});

describe('uWebSockets.js', () => {
  // Runs last in this file: every upgrade above, the first ones with a token on a hub with no
  // other connection open, must have been written inside a cork.
  it('printed no "writes must be made from within a corked callback" warning', () => {
    expect(fx.server.logs.filter((line) => line.includes('corked callback'))).toEqual([]);
  });
});
