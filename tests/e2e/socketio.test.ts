import { ObjectId } from 'mongodb';
import type { ManagerOptions, SocketOptions } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HubClient } from '../support/hub-client.js';
import { join, messagingFixture, send, type MessagingFixture, type TestUser } from '../support/messaging.js';
import { SioClient } from '../support/sio-client.js';
import { forgeToken } from '../support/tokens.js';

let fx: MessagingFixture;
const sockets: SioClient[] = [];

beforeAll(async () => {
  fx = await messagingFixture({ env: { WS_EVENTS_PER_SECOND: '500', WS_USER_EVENTS_PER_SECOND: '1000', WS_REFUSED_FRAMES_LIMIT: '10000' } });
});
afterAll(async () => {
  for (const socket of sockets) socket.close();
  await fx?.close();
});

/** A spec client: it knows only the REST base URL and passes its token as `auth: {token}`. */
async function specClient(user: TestUser, url = fx.server.baseUrl): Promise<SioClient> {
  const client = await SioClient.connect(url, { auth: { token: user.token } });
  sockets.push(client);
  return client;
}

const offer = { type: 'offer', sdp: 'v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n' };
const answer = { type: 'answer', sdp: 'v=0\r\no=- 3 4 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n' };
const candidate = { candidate: 'candidate:1 1 udp 2122260223 192.0.2.1 54321 typ host', sdpMid: '0', sdpMLineIndex: 0, usernameFragment: 'abcd' };

describe('the spec snippets, with socket.io-client 4 on the REST base URL', () => {
  it('sends, reads, reacts, edits and deletes with the spec payloads, and a second Socket.IO client and a /ws client see it all', async () => {
    const [alice, bob, carol] = await fx.users(3);
    const roomId = await fx.room(alice!, [bob!, carol!]);
    const socket = await specClient(alice!);
    const other = await specClient(bob!);
    const native = await fx.connect(carol!);
    await join(native, roomId);

    // join_room → message_history(messages): an array, oldest first.
    socket.emit('join_room', { roomId });
    expect(await socket.next('message_history')).toEqual([]);
    other.emit('join_room', { roomId });
    await other.next('message_history');

    // send_message with the spec's literal payload → message_sent(message), the acknowledgement too.
    const atOther = other.next('new_message');
    const atNative = native.next('new_message');
    const sent = socket.next('message_sent');
    const ack = await socket.request('send_message', { roomId: roomId, content: 'Hello everyone!', encrypted: false, fileAttachment: null });
    const message = await sent;
    expect(message).toMatchObject({ roomId, senderId: alice!.id, content: 'Hello everyone!', encrypted: false, fileAttachment: null, isDeleted: false });
    expect(ack).toEqual({ success: true, event: 'message_sent', data: message });
    expect((await atOther).message).toEqual(message);
    expect((await atNative).data.message).toEqual(message);
    expect(await fx.db.collection('messages').countDocuments({ _id: new ObjectId(message._id as string) })).toBe(1);

    // mark_message_read(messageId): the bare id, as the spec passes it.
    const readAtAlice = socket.next('message_read');
    other.emit('mark_message_read', message._id);
    expect(await readAtAlice).toMatchObject({ messageId: message._id, roomId, userId: bob!.id });

    // add_reaction {messageId, emoji}
    const reacted = native.next('reaction_added');
    socket.emit('add_reaction', { messageId: message._id, emoji: '😀' });
    expect((await reacted).data).toMatchObject({ messageId: message._id, emoji: '😀', userId: alice!.id });

    // edit_message {messageId, content}
    const edited = other.next('message_edited');
    socket.emit('edit_message', { messageId: message._id, content: 'Updated content' });
    expect((await edited).message).toMatchObject({ _id: message._id, content: 'Updated content' });

    // delete_message(messageId)
    const deleted = native.next('message_deleted');
    socket.emit('delete_message', message._id);
    expect((await deleted).data.message).toMatchObject({ _id: message._id, isDeleted: true });

    // A message from /ws reaches the Socket.IO clients.
    const fromNative = socket.next('new_message');
    const nativeMessage = await send(native, roomId, 'from the native side');
    expect((await fromNative).message).toEqual(nativeMessage);

    // The history replays oldest first, as an array.
    const again = await specClient(alice!);
    again.emit('join_room', { roomId });
    const history = await again.next('message_history');
    expect(history.map((m: any) => m._id)).toEqual([message._id, nativeMessage._id]);

    // leave_room: nothing from the room after it.
    expect(await again.request('leave_room', { roomId })).toEqual({ success: true, event: 'room_left', data: { roomId } });
    await send(native, roomId, 'after leaving');
    await again.settle(300);
    expect(again.received('new_message')).toHaveLength(0);
  });

  it('relays user_typing with the stored username and status changes, across both transports', async () => {
    const [alice, bob, carol] = await fx.users(3);
    const roomId = await fx.room(alice!, [bob!, carol!]);
    const socket = await specClient(alice!);
    const other = await specClient(bob!);
    const native = await fx.connect(carol!);
    socket.emit('join_room', { roomId });
    other.emit('join_room', { roomId });
    await Promise.all([socket.next('message_history'), other.next('message_history'), join(native, roomId)]);

    // The spec's payload; the relay names the sender from the database, not from the client.
    const atOther = other.next('user_typing');
    const atNative = native.next('user_typing');
    socket.emit('user_typing', { roomId, username: 'john' });
    expect(await atOther).toEqual({ roomId, userId: alice!.id, username: alice!.username, isTyping: true });
    expect((await atNative).data).toEqual({ roomId, userId: alice!.id, username: alice!.username, isTyping: true });
    const fromNative = socket.next('user_typing');
    native.send('user_typing', { roomId, username: 'someone else' });
    expect(await fromNative).toEqual({ roomId, userId: carol!.id, username: carol!.username, isTyping: true });
    await socket.settle(200);
    expect(socket.received('user_typing').filter((t) => t.userId === alice!.id)).toHaveLength(0);

    // set_status {status, customStatus} → user_status_changed {userId, status, …}
    const statusAtOther = other.next('user_status_changed', (d) => d.userId === alice!.id && d.status === 'away');
    const statusAtNative = native.next('user_status_changed', (d) => d.userId === alice!.id && d.status === 'away');
    socket.emit('set_status', { status: 'away', customStatus: 'In a meeting' });
    expect(await statusAtOther).toMatchObject({ userId: alice!.id, status: 'away', customStatus: 'In a meeting' });
    expect((await statusAtNative).data).toMatchObject({ userId: alice!.id, status: 'away', customStatus: 'In a meeting' });
  });

  it('reaches a client that stays on long-polling: room messages and typing, not its own typing', async () => {
    const [alice, bob] = await fx.users(2);
    const roomId = await fx.room(alice!, [bob!]);
    // uWS topics reach only WebSocket clients; a polling client is written to on its own.
    const polling = await SioClient.connect(fx.server.baseUrl, { auth: { token: bob!.token }, transports: ['polling'] });
    sockets.push(polling);
    const sender = await specClient(alice!);
    polling.emit('join_room', { roomId });
    sender.emit('join_room', { roomId });
    await Promise.all([polling.next('message_history'), sender.next('message_history')]);

    const delivered = polling.next('new_message');
    sender.emit('send_message', { roomId, content: 'over polling', encrypted: false, fileAttachment: null });
    expect(await delivered).toMatchObject({ message: { roomId, content: 'over polling', senderId: alice!.id } });
    const typing = polling.next('user_typing');
    sender.emit('user_typing', { roomId, username: alice!.username });
    expect(await typing).toEqual({ roomId, userId: alice!.id, username: alice!.username, isTyping: true });
    polling.emit('user_typing', { roomId });
    expect(await sender.next('user_typing')).toMatchObject({ userId: bob!.id });
    await polling.settle(300);
    expect(polling.received('user_typing').filter((t) => t.userId === bob!.id)).toHaveLength(0);
  });

  it('joins a public room on join_room, and still refuses a private one', async () => {
    const [owner, newcomer] = await fx.users(2);
    const open = await fx.room(owner!, [], 'public');
    const closed = await fx.room(owner!, [], 'private');
    const socket = await specClient(newcomer!);
    socket.emit('join_room', { roomId: open });
    expect(await socket.next('message_history')).toEqual([]);
    expect(await fx.db.collection('memberships').findOne({ roomId: new ObjectId(open), userId: new ObjectId(newcomer!.id) })).toMatchObject({ role: 'member' });
    expect(await socket.request('join_room', { roomId: closed })).toEqual({ success: false, error: { code: 'FORBIDDEN', message: 'You are not a member of this room' } });
    expect(socket.received('error')).toContainEqual({ code: 'FORBIDDEN', message: 'You are not a member of this room' });
  });
});

describe('handshake', () => {
  it('authenticates with auth.token, Authorization: Bearer, the cookie and ?token=, on both ports', async () => {
    const [alice] = await fx.users(1);
    const hubUrl = `http://127.0.0.1:${fx.server.wsPort}`;
    const ways: Partial<ManagerOptions & SocketOptions>[] = [
      { auth: { token: alice!.token } },
      { extraHeaders: { Authorization: `Bearer ${alice!.token}` } },
      { extraHeaders: { Cookie: `chatd_access=${alice!.token}` } },
      { query: { token: alice!.token } },
    ];
    for (const url of [fx.server.baseUrl, hubUrl]) {
      for (const options of ways) {
        for (const transports of [['polling', 'websocket'], ['websocket']]) {
          const client = await SioClient.connect(url, { ...options, transports });
          expect(await client.request('set_status', { status: 'online' })).toMatchObject({ success: true, event: 'status_updated' });
          client.close();
        }
      }
    }
  });

  it('refuses a missing, invalid or expired token with a connect_error that says why, and a foreign origin', async () => {
    const [alice] = await fx.users(1);
    const missing = await SioClient.refusal(fx.server.baseUrl);
    expect(missing.message).toMatch(/^Authentication required/);
    expect(missing.data).toMatchObject({ code: 'UNAUTHORIZED' });
    const invalid = await SioClient.refusal(fx.server.baseUrl, { auth: { token: 'not-a-token' } });
    expect(invalid.data).toMatchObject({ code: 'UNAUTHORIZED' });
    const expired = await SioClient.refusal(fx.server.baseUrl, { auth: { token: forgeToken(alice!.id, { expiresInSeconds: -10 }) } });
    expect(expired.data).toMatchObject({ code: 'UNAUTHORIZED' });
    const foreign = await SioClient.refusal(fx.server.baseUrl, { auth: { token: alice!.token }, extraHeaders: { Origin: 'https://evil.example' }, transports: ['polling'] });
    expect(foreign.message).toBeTruthy();
  });

  it('disconnects a Socket.IO client whose session is revoked, saying why', async () => {
    const account = { username: `rev_${Date.now()}`, email: `rev_${Date.now()}@example.test`, password: 'Correct-Horse-9-Battery' };
    const registered = await fx.api.post('/api/auth/register', account);
    expect(registered.status).toBe(201);
    const token = registered.body.tokens.accessToken as string;
    const client = await SioClient.connect(fx.server.baseUrl, { auth: { token } });
    sockets.push(client);
    const gone = client.disconnected();
    const closing = client.next('closing');
    expect((await fx.api.post('/api/auth/logout', undefined, { token })).status).toBe(200);
    expect(await closing).toMatchObject({ code: expect.any(Number), reason: expect.any(String) });
    expect(await gone).toBe('io server disconnect');
  });
});

describe('a call between a Socket.IO client and a /ws client', () => {
  it('rings, relays offer, answer and candidates (also the spec’s session-description shape), and ends', async () => {
    const [alice, bob] = await fx.users(2);
    const roomId = await fx.room(alice!, [bob!]);
    const socket = await specClient(alice!);
    const native = await fx.connect(bob!);

    const ringing = await socket.request('call_user', { targetUserId: bob!.id, roomId, callType: 'video' });
    expect(ringing).toMatchObject({ success: true, event: 'call_ringing' });
    const callId = ringing.data.callId as string;
    const incoming = (native.received('incoming_call')[0] ?? (await native.next('incoming_call'))).data;
    expect(incoming).toMatchObject({ callId, callerId: alice!.id, callerName: alice!.username, callType: 'video', roomId });
    expect((await native.request('accept_call', { callId })).event).toBe('call_accepted');
    await socket.arrival('call_accepted');

    const offerAtNative = native.next('webrtc_offer');
    socket.emit('webrtc_offer', { targetUserId: bob!.id, offer });
    expect((await offerAtNative).data).toEqual({ callId, senderId: alice!.id, offer });
    const answerAtSocket = socket.next('webrtc_answer');
    native.send('webrtc_answer', { targetUserId: alice!.id, answer });
    expect(await answerAtSocket).toEqual({ callId, senderId: bob!.id, answer });

    const candidateAtNative = native.next('ice_candidate');
    socket.emit('ice_candidate', { targetUserId: bob!.id, candidate });
    expect((await candidateAtNative).data).toEqual({ callId, senderId: alice!.id, candidate });
    // The spec's own example sends `pc.currentLocalDescription` as the candidate.
    const specShapeAtNative = native.next('ice_candidate');
    socket.emit('ice_candidate', { targetUserId: bob!.id, candidate: offer });
    expect((await specShapeAtNative).data).toEqual({ callId, senderId: alice!.id, candidate: offer });
    const candidateAtSocket = socket.next('ice_candidate');
    native.send('ice_candidate', { targetUserId: alice!.id, candidate });
    expect(await candidateAtSocket).toEqual({ callId, senderId: bob!.id, candidate });

    const ended = native.next('call_ended');
    expect(await socket.request('end_call', { callId })).toMatchObject({ success: true });
    expect((await ended).data).toMatchObject({ callId });
  });
});

describe('bad input gets the same answers over Socket.IO as over /ws', () => {
  /** Sends one event both ways and returns the two error payloads. */
  async function both(socket: SioClient, native: HubClient, event: string, data: unknown) {
    const overSocket = await socket.request(event, data);
    const overNative = await native.request(event, data);
    expect(overNative.event, `${event} over /ws`).toBe('error');
    expect(overSocket, `${event} over Socket.IO`).toEqual({ success: false, error: overNative.data });
    return overNative.data;
  }

  it('operator objects, unknown events, events in rooms one is not in, a stranger’s offer', async () => {
    const [alice, bob, carol, mallory] = await fx.users(4);
    const roomId = await fx.room(alice!, [bob!]);
    const message = await send(await fx.connect(alice!), roomId, 'target');
    const socket = await specClient(mallory!);
    const native = await fx.connect(mallory!);
    const cases: [string, unknown, string][] = [
      ['send_message', { roomId: { $gt: '' }, content: 'x' }, 'VALIDATION_FAILED'],
      ['send_message', { roomId, content: { $ne: null } }, 'VALIDATION_FAILED'],
      ['send_message', { roomId, content: 'x', senderId: alice!.id }, 'VALIDATION_FAILED'],
      ['join_room', { roomId: { $where: '1' } }, 'VALIDATION_FAILED'],
      ['mark_message_read', { $gt: '' }, 'VALIDATION_FAILED'],
      ['delete_message', { messageId: { $ne: null } }, 'VALIDATION_FAILED'],
      ['set_status', { status: 'online', role: 'admin' }, 'VALIDATION_FAILED'],
      ['no_such_event', {}, 'VALIDATION_FAILED'],
      ['send_message', { roomId, content: 'let me in' }, 'FORBIDDEN'],
      ['join_room', { roomId }, 'FORBIDDEN'],
      ['user_typing', { roomId, username: 'mallory' }, 'FORBIDDEN'],
      ['edit_message', { messageId: message._id, content: 'mine now' }, 'FORBIDDEN'],
      ['webrtc_offer', { targetUserId: bob!.id, offer }, 'FORBIDDEN'],
      ['ice_candidate', { targetUserId: carol!.id, candidate }, 'FORBIDDEN'],
    ];
    for (const [event, data, code] of cases) expect((await both(socket, native, event, data)).code, `${event} ${JSON.stringify(data)}`).toBe(code);
    expect(socket.received('error')).toHaveLength(cases.length);
    expect(await fx.db.collection('messages').countDocuments({ roomId: new ObjectId(roomId) })).toBe(1);
  });

  it('frames over the size limit: PAYLOAD_TOO_LARGE, and the connection keeps serving', async () => {
    const [alice] = await fx.users(1);
    const roomId = await fx.room(alice!);
    const socket = await specClient(alice!);
    const native = await fx.connect(alice!);
    const big = { roomId, content: 'x'.repeat(70 * 1024) };
    // The sizes in the messages differ by each protocol's framing; the answer is the same.
    // A frame too large to read has no id to echo.
    const refused = native.next('error');
    native.send('send_message', big, 'big-1');
    expect((await refused).data).toMatchObject({ code: 'PAYLOAD_TOO_LARGE', message: expect.stringMatching(/exceeds the 65536-byte limit$/) });
    expect(await socket.request('send_message', big)).toMatchObject({ success: false, error: { code: 'PAYLOAD_TOO_LARGE', message: expect.stringMatching(/exceeds the 65536-byte limit$/) } });
    expect(await fx.db.collection('messages').countDocuments({ roomId: new ObjectId(roomId) })).toBe(0);
    expect(await socket.request('send_message', { roomId, content: 'still here' })).toMatchObject({ success: true, event: 'message_sent' });
  });
});

describe('uWebSockets.js', () => {
  // Runs last in this file: Socket.IO's polling answers and upgrades, and every /ws upgrade above.
  it('printed no "writes must be made from within a corked callback" warning', () => {
    expect(fx.server.logs.filter((line) => line.includes('corked callback'))).toEqual([]);
  });
});
