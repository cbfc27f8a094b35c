import { createHmac } from 'node:crypto';
import type { Db, MongoClient } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { UserDocument } from '../../src/modules/users/types.js';
import { apiClient, type ApiClient } from '../support/api.js';
import { connectTestDb, startChatd, type ChatdServer } from '../support/chatd.js';
import { createUser } from '../support/factories.js';
import { HubClient } from '../support/hub-client.js';
import { createRoom } from '../support/rooms.js';

// Short enough that the disconnect tests wait little, long enough for a reconnect on a busy machine.
const GRACE_SECONDS = 5;
const SIGNALING_LIMIT = 30;
const TURN_SECRET = 'turn-test-secret-0123456789abcdef';

let server: ChatdServer;
let api: ApiClient;
let client: MongoClient;
let db: Db;
const open: HubClient[] = [];

type TestUser = UserDocument & { token: string; id: string };

beforeAll(async () => {
  server = await startChatd({
    env: {
      CALL_RECONNECT_GRACE_SECONDS: String(GRACE_SECONDS),
      CALL_SIGNALING_LIMIT: String(SIGNALING_LIMIT),
      STUN_URLS: 'stun:stun1.example.test:3478,stun:stun2.example.test:3478',
      TURN_URLS: 'turn:turn.example.test:3478?transport=udp,turns:turn.example.test:5349',
      TURN_SECRET,
      TURN_CREDENTIAL_TTL: '2h',
    },
  });
  api = apiClient(server.baseUrl);
  ({ client, db } = await connectTestDb(server.mongoUri!));
});

afterAll(async () => {
  await Promise.all(open.map((hub) => hub.close()));
  await client?.close();
  await server?.stop();
});

async function connect(user: TestUser): Promise<HubClient> {
  const hub = await HubClient.authenticated(server.wsUrl, user.token);
  open.push(hub);
  return hub;
}

/** Users who share a room, the room, and nothing else. */
async function people(count: number): Promise<{ users: TestUser[]; roomId: string }> {
  const users = await Promise.all(Array.from({ length: count }, () => createUser(db)));
  const room = await createRoom(db, users.map((user) => user._id));
  return { users, roomId: room.id };
}

const offer = { type: 'offer', sdp: 'v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n' };
const answer = { type: 'answer', sdp: 'v=0\r\no=- 3 4 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n' };
const candidate = { candidate: 'candidate:1 1 udp 2122260223 192.0.2.1 54321 typ host', sdpMid: '0', sdpMLineIndex: 0, usernameFragment: 'abcd' };

/** The first frame named `event` that passes `predicate`, whether it arrived already or is still to come. */
function arrival(hub: HubClient, event: string, predicate: (data: any) => boolean = () => true, timeoutMs?: number) {
  const seen = hub.received(event).find((frame) => predicate(frame.data));
  return seen ? Promise.resolve(seen) : hub.next(event, predicate, timeoutMs);
}

async function ring(caller: HubClient, callee: TestUser, roomId: string, callType = 'video'): Promise<string> {
  const reply = await caller.request('call_user', { targetUserId: callee.id, roomId, callType });
  expect(reply.event).toBe('call_ringing');
  return reply.data.callId as string;
}

/** Alice calls Bob and Bob accepts; `extra` more users share their room. */
async function inCall(extra = 0) {
  const { users: [alice, bob, ...others], roomId } = await people(2 + extra);
  const [a, b] = [await connect(alice!), await connect(bob!)];
  const callId = await ring(a, bob!, roomId);
  expect((await b.request('accept_call', { callId })).event).toBe('call_accepted');
  return { alice: alice!, bob: bob!, others, roomId, a, b, callId };
}

async function history(user: TestUser, query = ''): Promise<any[]> {
  const response = await api.get(`/api/calls${query}`, { token: user.token });
  expect(response.status).toBe(200);
  return response.body.calls;
}

describe('ringing and answering', () => {
  it('rings every connection of the callee and gives the caller the call id', async () => {
    const { users: [alice, bob], roomId } = await people(2);
    const [a, b1, b2] = [await connect(alice!), await connect(bob!), await connect(bob!)];
    const reply = await a.request('call_user', { targetUserId: bob!.id, roomId, callType: 'audio' });
    expect(reply).toMatchObject({ event: 'call_ringing', data: { targetUserId: bob!.id, roomId, callType: 'audio' } });
    const callId = reply.data.callId;
    expect(callId).toMatch(/^[0-9a-f]{24}$/);
    const expected = { callId, callerId: alice!.id, callerName: alice!.username, callType: 'audio', roomId };
    expect((await arrival(b1, 'incoming_call')).data).toEqual(expected);
    expect((await arrival(b2, 'incoming_call')).data).toEqual(expected);
    // The caller's own other connections do not ring.
    expect(a.received('incoming_call')).toHaveLength(0);

    const [call] = await history(bob!);
    expect(call).toMatchObject({ _id: callId, status: 'ringing', direction: 'incoming', callerId: alice!.id, calleeId: bob!.id, roomId, callType: 'audio', answeredAt: null });
    await a.request('end_call', { callId });
  });

  it('connects the accepting device, tells the caller, and stops the callee’s other devices ringing', async () => {
    const { users: [alice, bob], roomId } = await people(2);
    const [a, b1, b2] = [await connect(alice!), await connect(bob!), await connect(bob!)];
    const callId = await ring(a, bob!, roomId);
    await arrival(b2, 'incoming_call');

    const accepted = await b1.request('accept_call', { callId });
    expect(accepted).toMatchObject({ event: 'call_accepted', data: { callId, callerId: alice!.id, calleeId: bob!.id } });
    expect((await arrival(a, 'call_accepted')).data).toEqual({ callId, callerId: alice!.id, calleeId: bob!.id });
    expect((await arrival(b2, 'call_answered_elsewhere')).data).toEqual({ callId });
    expect(b1.received('call_answered_elsewhere')).toHaveLength(0);
    expect((await b2.request('accept_call', { callId })).data).toMatchObject({ code: 'CONFLICT', message: 'This call was answered on another device' });
    expect((await a.request('accept_call', { callId })).data.code).toBe('FORBIDDEN');

    // Signaling flows between the caller's connection and the accepting device only.
    a.send('webrtc_offer', { targetUserId: bob!.id, offer });
    expect((await arrival(b1, 'webrtc_offer')).data).toEqual({ callId, senderId: alice!.id, offer });
    b1.send('webrtc_answer', { targetUserId: alice!.id, callId, answer });
    expect((await arrival(a, 'webrtc_answer')).data).toEqual({ callId, senderId: bob!.id, answer });
    a.send('ice_candidate', { targetUserId: bob!.id, candidate });
    b1.send('ice_candidate', { targetUserId: alice!.id, candidate: { candidate: '', sdpMid: '0', sdpMLineIndex: 0 } });
    expect((await arrival(b1, 'ice_candidate')).data).toEqual({ callId, senderId: alice!.id, candidate });
    expect((await arrival(a, 'ice_candidate')).data).toEqual({ callId, senderId: bob!.id, candidate: { candidate: '', sdpMid: '0', sdpMLineIndex: 0 } });
    expect((await b2.request('ice_candidate', { targetUserId: alice!.id, candidate })).data).toMatchObject({
      code: 'FORBIDDEN',
      message: 'This call is carried by another of your connections',
    });
    await b2.settle();
    expect(b2.received('webrtc_offer')).toHaveLength(0);
    expect(b2.received('ice_candidate')).toHaveLength(0);

    const ended = await a.request('end_call', { callId });
    expect(ended).toMatchObject({ event: 'call_ended', data: { callId, status: 'ended', reason: 'hangup', endedBy: alice!.id } });
    expect((await arrival(b1, 'call_ended')).data).toEqual(ended.data);
    expect((await a.request('end_call', { callId })).data.code).toBe('NOT_FOUND');

    for (const [user, direction] of [[alice!, 'outgoing'], [bob!, 'incoming']] as const) {
      const [call] = await history(user);
      expect(call).toMatchObject({ _id: callId, status: 'ended', endReason: 'hangup', direction, callType: 'video' });
      expect(Date.parse(call.answeredAt)).toBeGreaterThanOrEqual(Date.parse(call.startedAt));
      expect(Date.parse(call.endedAt)).toBeGreaterThanOrEqual(Date.parse(call.answeredAt));
      expect(call.duration).toBe(ended.data.duration);
    }
  });

  it('lets the callee reject on one device: the caller is told and the other devices stop ringing', async () => {
    const { users: [alice, bob], roomId } = await people(2);
    const [a, b1, b2] = [await connect(alice!), await connect(bob!), await connect(bob!)];
    const callId = await ring(a, bob!, roomId);
    await arrival(b2, 'incoming_call');
    expect((await a.request('reject_call', { callId })).data.code).toBe('FORBIDDEN');
    const rejected = await b1.request('reject_call', { callId });
    expect(rejected).toMatchObject({ event: 'call_rejected', data: { callId, callerId: alice!.id, calleeId: bob!.id } });
    expect((await arrival(a, 'call_rejected')).data).toEqual(rejected.data);
    expect((await arrival(b2, 'call_ended')).data).toMatchObject({ callId, status: 'rejected', reason: 'rejected', endedBy: bob!.id });
    expect((await history(alice!))[0]).toMatchObject({ _id: callId, status: 'rejected', endReason: 'rejected', duration: 0, answeredAt: null });
    // Once over, the call is gone for signaling too.
    expect((await a.request('webrtc_offer', { targetUserId: bob!.id, offer })).data.code).toBe('FORBIDDEN');
  });

  it('tells the callee when the caller gives up before an answer', async () => {
    const { users: [alice, bob], roomId } = await people(2);
    const [a, b] = [await connect(alice!), await connect(bob!)];
    const callId = await ring(a, bob!, roomId);
    await arrival(b, 'incoming_call');
    expect((await a.request('end_call', { callId })).data).toMatchObject({ callId, status: 'missed', reason: 'cancelled' });
    expect((await arrival(b, 'call_ended')).data).toMatchObject({ callId, status: 'missed', reason: 'cancelled', endedBy: alice!.id });
    expect((await history(bob!))[0]).toMatchObject({ _id: callId, status: 'missed', endReason: 'cancelled' });
  });

  it('rings a device the callee opens while the call rings', async () => {
    const { users: [alice, bob], roomId } = await people(2);
    const [a] = [await connect(alice!), await connect(bob!)];
    const callId = await ring(a, bob!, roomId);
    const late = await connect(bob!);
    expect((await arrival(late, 'incoming_call')).data).toMatchObject({ callId, callerId: alice!.id });
    await late.request('reject_call', { callId });
  });
});

describe('busy and unavailable', () => {
  it('answers call_busy when the callee is in a call, and records it', async () => {
    const { alice, bob, others: [carol], roomId, a, b, callId } = await inCall(1);
    const c = await connect(carol!);

    const busy = await c.request('call_user', { targetUserId: bob!.id, roomId, callType: 'audio' });
    expect(busy).toMatchObject({ event: 'call_busy', data: { targetUserId: bob!.id, roomId, callType: 'audio' } });
    expect((await history(carol!))[0]).toMatchObject({ _id: busy.data.callId, status: 'busy', endReason: 'busy', callerId: carol!.id, calleeId: bob!.id });
    // Calling the caller of a call in progress is busy too; a user in a call cannot place another.
    expect((await c.request('call_user', { targetUserId: alice!.id, roomId, callType: 'audio' })).event).toBe('call_busy');
    expect((await a.request('call_user', { targetUserId: carol!.id, roomId, callType: 'audio' })).data).toMatchObject({ code: 'CONFLICT' });
    await b.settle();
    expect(b.received('incoming_call').map((frame) => frame.data.callerId)).toEqual([alice!.id]);
    expect(c.received('incoming_call')).toHaveLength(0);
    await b.request('end_call', { callId });
  });

  it('answers call_unavailable at once when the callee has no open connection, and records a missed call', async () => {
    const { users: [alice, bob], roomId } = await people(2);
    const a = await connect(alice!);
    const reply = await a.request('call_user', { targetUserId: bob!.id, roomId, callType: 'video' });
    expect(reply).toMatchObject({ event: 'call_unavailable', data: { targetUserId: bob!.id, roomId, callType: 'video' } });
    expect((await history(bob!))[0]).toMatchObject({ _id: reply.data.callId, status: 'missed', endReason: 'unavailable', direction: 'incoming' });
    // The caller is free to call again.
    const bob2 = await connect(bob!);
    const callId = await ring(a, bob!, roomId);
    await bob2.request('reject_call', { callId });
  });
});

describe('who may call and signal', () => {
  it('refuses offers, answers and candidates from anyone outside the call, delivering nothing', async () => {
    const { alice, bob, others: [mallory], a, b, callId } = await inCall(1);
    const m = await connect(mallory!);

    for (const [event, data] of [
      ['webrtc_offer', { targetUserId: bob!.id, offer }],
      ['webrtc_offer', { targetUserId: bob!.id, callId, offer }],
      ['webrtc_answer', { targetUserId: alice!.id, answer }],
      ['ice_candidate', { targetUserId: alice!.id, callId, candidate }],
    ] as const) {
      expect((await m.request(event, data)).data).toMatchObject({ code: 'FORBIDDEN', message: 'You are not in a call with this user' });
    }
    // A participant cannot reach a third person through the relay, nor name another call.
    expect((await a.request('webrtc_offer', { targetUserId: mallory!.id, offer })).data.code).toBe('FORBIDDEN');
    expect((await a.request('webrtc_offer', { targetUserId: bob!.id, callId: '0123456789abcdef01234567', offer })).data.code).toBe('FORBIDDEN');
    // Nor can outsiders touch the call itself.
    expect((await m.request('end_call', { callId })).data.code).toBe('NOT_FOUND');
    expect((await m.request('accept_call', { callId })).data.code).toBe('NOT_FOUND');
    await Promise.all([a.settle(), b.settle(), m.settle()]);
    for (const hub of [a, b, m]) {
      expect(hub.received('webrtc_offer')).toHaveLength(0);
      expect(hub.received('webrtc_answer')).toHaveLength(0);
      expect(hub.received('ice_candidate')).toHaveLength(0);
    }
    await a.request('end_call', { callId });
  });

  it('refuses calls between users when either blocked the other; the callee never hears of them', async () => {
    const { users: [alice, bob, carol], roomId } = await people(3);
    await db.collection('users').updateOne({ _id: bob!._id }, { $set: { blockedUsers: [alice!._id] } });
    await db.collection('users').updateOne({ _id: alice!._id }, { $set: { blockedUsers: [carol!._id] } });
    const [a, b, c] = [await connect(alice!), await connect(bob!), await connect(carol!)];
    const refused = await a.request('call_user', { targetUserId: bob!.id, roomId, callType: 'audio' });
    expect(refused).toMatchObject({ event: 'error', data: { code: 'FORBIDDEN', message: 'You cannot call this user' } });
    expect((await c.request('call_user', { targetUserId: alice!.id, roomId, callType: 'audio' })).data.code).toBe('FORBIDDEN');
    await Promise.all([a.settle(), b.settle()]);
    expect(b.received('incoming_call')).toHaveLength(0);
    expect(a.received('incoming_call')).toHaveLength(0);
    expect(await history(bob!)).toEqual([]);
    expect(await history(carol!)).toEqual([]);
    // The block does not stop anyone else.
    const callId = await ring(c, bob!, roomId);
    await b.request('reject_call', { callId });
  });

  it('refuses calls to someone who does not share the room, to unknown users and to oneself', async () => {
    const { users: [alice, bob], roomId } = await people(2);
    const outsider = await createUser(db);
    const otherRoom = await createRoom(db, [alice!._id, outsider._id]);
    const a = await connect(alice!);
    await connect(outsider);
    expect((await a.request('call_user', { targetUserId: outsider.id, roomId, callType: 'audio' })).data.code).toBe('FORBIDDEN');
    expect((await a.request('call_user', { targetUserId: bob!.id, roomId: otherRoom.id, callType: 'audio' })).data.code).toBe('FORBIDDEN');
    expect((await a.request('call_user', { targetUserId: '0123456789abcdef01234567', roomId, callType: 'audio' })).data.code).toBe('NOT_FOUND');
    expect((await a.request('call_user', { targetUserId: alice!.id, roomId, callType: 'audio' })).data).toMatchObject({ code: 'VALIDATION_FAILED', message: 'You cannot call yourself' });
    expect(await history(alice!)).toEqual([]);
  });

  it('validates call payloads and bounds SDP and candidate sizes', async () => {
    const { users: [alice, bob], roomId } = await people(2);
    const [a, b] = [await connect(alice!), await connect(bob!)];
    for (const data of [
      { targetUserId: bob!.id, roomId, callType: 'hologram' },
      { targetUserId: 'nope', roomId, callType: 'audio' },
      { targetUserId: bob!.id, roomId, callType: 'audio', extra: true },
      { targetUserId: bob!.id, callType: 'audio' },
    ]) {
      expect((await a.request('call_user', data)).data.code).toBe('VALIDATION_FAILED');
    }
    expect((await a.request('accept_call', { callId: 'x' })).data.code).toBe('VALIDATION_FAILED');

    const callId = await ring(a, bob!, roomId);
    await b.request('accept_call', { callId });
    const huge = await a.request('webrtc_offer', { targetUserId: bob!.id, offer: { type: 'offer', sdp: 'a'.repeat(33 * 1024) } });
    expect(huge.data).toMatchObject({ code: 'VALIDATION_FAILED' });
    expect(huge.data.details).toEqual([{ path: 'offer.sdp', message: 'must be at most 32768 characters' }]);
    expect((await a.request('webrtc_offer', { targetUserId: bob!.id, offer: { type: 'answer', sdp: 'v=0' } })).data.code).toBe('VALIDATION_FAILED');
    expect((await a.request('ice_candidate', { targetUserId: bob!.id, candidate: { candidate: 'c'.repeat(1025) } })).data.code).toBe('VALIDATION_FAILED');
    expect((await a.request('ice_candidate', { targetUserId: bob!.id, candidate: { ...candidate, foo: 1 } })).data.code).toBe('VALIDATION_FAILED');
    await b.settle();
    expect(b.received('webrtc_offer')).toHaveLength(0);
    expect(b.received('ice_candidate')).toHaveLength(0);
    await a.request('end_call', { callId });
  });

  it('rate-limits call events per connection', async () => {
    const { alice, bob, roomId, a, b, callId } = await inCall();
    const burst = SIGNALING_LIMIT + 5;
    const replies = await Promise.all(
      Array.from({ length: burst }, (_, i) => a.request('ice_candidate', { targetUserId: bob!.id, candidate: { ...candidate, candidate: `${candidate.candidate} ${i}` } }, 3000).catch(() => undefined)),
    );
    const limited = replies.filter((reply) => reply?.event === 'error');
    expect(limited.length).toBeGreaterThan(0);
    expect(limited[0]!.data).toMatchObject({ code: 'RATE_LIMITED', setting: 'CALL_SIGNALING_LIMIT', retryAfter: expect.any(Number) });
    expect(limited[0]!.data.message).toMatch(new RegExp(`^Call events on one connection: at most ${SIGNALING_LIMIT} per 10 seconds \\(set by CALL_SIGNALING_LIMIT\\)\\. Try again in \\d+ seconds?\\.$`));
    await b.settle();
    // Everything that was not refused arrived, in order, and nothing past the limit got through.
    const relayed = b.received('ice_candidate');
    expect(relayed.length).toBeLessThanOrEqual(SIGNALING_LIMIT);
    expect(relayed.map((frame) => frame.data.candidate.candidate)).toEqual(Array.from({ length: burst - limited.length }, (_, i) => `${candidate.candidate} ${i}`));
    // Another connection has its own budget.
    const a2 = await connect(alice!);
    expect((await a2.request('end_call', { callId })).event).toBe('call_ended');
  });
});

describe('disconnects', () => {
  it('keeps the call when the dropped participant reconnects within the grace period', async () => {
    const { alice, bob, roomId, a, b, callId } = await inCall();
    await b.close();
    const back = await connect(bob!);
    expect((await arrival(back, 'call_resumed')).data).toEqual({ callId, callerId: alice!.id, calleeId: bob!.id, peerId: alice!.id, roomId, callType: 'video', status: 'active' });
    // The new connection carries the call: an ICE restart goes through both ways.
    back.send('webrtc_offer', { targetUserId: alice!.id, callId, offer });
    expect((await arrival(a, 'webrtc_offer')).data).toEqual({ callId, senderId: bob!.id, offer });
    a.send('webrtc_answer', { targetUserId: bob!.id, answer });
    expect((await arrival(back, 'webrtc_answer')).data).toMatchObject({ callId, senderId: alice!.id });
    await a.settle((GRACE_SECONDS + 1) * 1000);
    expect(a.received('call_ended')).toHaveLength(0);
    expect((await history(alice!))[0]).toMatchObject({ _id: callId, status: 'active' });
    await back.request('end_call', { callId });
  });

  it('ends the call for the other side when the dropped participant does not come back', async () => {
    const { alice, bob, roomId, a, b, callId } = await inCall();
    await a.close();
    const ended = await arrival(b, 'call_ended', undefined, (GRACE_SECONDS + 10) * 1000);
    expect(ended.data).toMatchObject({ callId, status: 'ended', reason: 'disconnected', endedBy: null });
    expect((await history(bob!))[0]).toMatchObject({ _id: callId, status: 'ended', endReason: 'disconnected' });
    // Both are free again.
    const a2 = await connect(alice!);
    const next = await ring(a2, bob!, roomId);
    await b.request('reject_call', { callId: next });
  });

  it('ends a ringing call as missed when the callee’s last device drops and does not come back', async () => {
    const { users: [alice, bob], roomId } = await people(2);
    const [a, b] = [await connect(alice!), await connect(bob!)];
    const callId = await ring(a, bob!, roomId);
    await arrival(b, 'incoming_call');
    await b.close();
    expect((await arrival(a, 'call_ended', undefined, (GRACE_SECONDS + 10) * 1000)).data).toMatchObject({ callId, status: 'missed', reason: 'disconnected' });
    expect((await history(alice!))[0]).toMatchObject({ _id: callId, status: 'missed', endReason: 'disconnected' });
  });
});

describe('call history', () => {
  it('pages through the user’s own calls only, newest first', async () => {
    const { users: [alice, bob, carol], roomId } = await people(3);
    const [a, c] = [await connect(alice!), await connect(carol!)];
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await a.request('call_user', { targetUserId: bob!.id, roomId, callType: 'audio' })).data.callId);
    const carolsCall = (await c.request('call_user', { targetUserId: bob!.id, roomId, callType: 'audio' })).data.callId;
    expect(ids.every((id) => typeof id === 'string')).toBe(true);

    const first = await api.get('/api/calls?limit=2', { token: alice!.token });
    expect(first.body).toMatchObject({ success: true, page: 1, limit: 2, hasMore: true });
    const second = await api.get('/api/calls?limit=2&page=2', { token: alice!.token });
    const third = await api.get('/api/calls?limit=2&page=3', { token: alice!.token });
    expect(third.body.hasMore).toBe(false);
    const seen = [...first.body.calls, ...second.body.calls, ...third.body.calls].map((call: { _id: string }) => call._id);
    expect(seen).toEqual([...ids].reverse());
    expect(seen).not.toContain(carolsCall);

    const bobs = await history(bob!, '?status=missed&limit=100');
    expect(bobs.map((call) => call._id).sort()).toEqual([...ids, carolsCall].sort());
    expect(await history(carol!)).toHaveLength(1);
  });

  it('requires a token and valid paging', async () => {
    const user = await createUser(db);
    expect(await api.get('/api/calls')).toMatchObject({ status: 401, body: { success: false, error: { code: 'UNAUTHORIZED' } } });
    expect(await api.get('/api/calls/ice-servers')).toMatchObject({ status: 401, body: { success: false, error: { code: 'UNAUTHORIZED' } } });
    for (const query of ['?limit=0', '?limit=101', '?page=0', '?status=lost', '?sort=asc']) {
      expect(await api.get(`/api/calls${query}`, { token: user.token })).toMatchObject({ status: 400, body: { error: { code: 'VALIDATION_FAILED' } } });
    }
  });
});

describe('ICE servers', () => {
  it('hands out STUN servers and TURN credentials in the coturn REST scheme', async () => {
    const user = await createUser(db);
    const before = Math.floor(Date.now() / 1000);
    const response = await api.get('/api/calls/ice-servers', { token: user.token });
    expect(response.status).toBe(200);
    expect(response.headers.get('cache-control')).toBe('no-store');
    const { iceServers, ttl } = response.body;
    expect(ttl).toBe(7200);
    expect(iceServers[0]).toEqual({ urls: ['stun:stun1.example.test:3478', 'stun:stun2.example.test:3478'] });
    const turn = iceServers[1];
    expect(turn.urls).toEqual(['turn:turn.example.test:3478?transport=udp', 'turns:turn.example.test:5349']);
    const [expiry, userId] = turn.username.split(':');
    expect(userId).toBe(user.id);
    expect(Number(expiry)).toBeGreaterThanOrEqual(before + 7200);
    expect(turn.credential).toBe(createHmac('sha1', TURN_SECRET).update(turn.username).digest('base64'));
  });
});
