import { ObjectId } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join, messagingFixture, send, type MessagingFixture } from '../support/messaging.js';

let fx: MessagingFixture;

beforeAll(async () => {
  fx = await messagingFixture({ env: { WS_EVENTS_PER_SECOND: '500', WS_USER_EVENTS_PER_SECOND: '500' } });
});
afterAll(async () => {
  await fx?.close();
});

describe('creating and reading rooms', () => {
  it('creates public and private rooms owned by their creator', async () => {
    const [alice] = await fx.users(1);
    const created = await fx.api.post('/api/rooms', { name: '  General  ', type: 'public', description: 'all of us' }, { token: alice!.token });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ success: true, room: { name: 'General', type: 'public', description: 'all of us', createdBy: alice!.id, memberCount: 1, role: 'owner' } });
    expect(created.body.room._id).toMatch(/^[0-9a-f]{24}$/);
    expect(created.body.room.createdAt).toBeTruthy();
    const membership = await fx.db.collection('memberships').findOne({ roomId: new ObjectId(created.body.room._id), userId: new ObjectId(alice!.id) });
    expect(membership).toMatchObject({ role: 'owner', lastReadMessageId: null });
  });

  it('refuses invalid room input with the field named', async () => {
    const [alice] = await fx.users(1);
    for (const body of [{ name: '   ', type: 'public' }, { name: 'x', type: 'direct' }, { name: 'x'.repeat(101), type: 'public' }, { name: 'x', type: 'public', admin: true }, { name: { $gt: '' }, type: 'public' }]) {
      const response = await fx.api.post('/api/rooms', body, { token: alice!.token });
      expect(response.status, JSON.stringify(body)).toBe(400);
      expect(response.body.error.code).toBe('VALIDATION_FAILED');
    }
    expect((await fx.api.post('/api/rooms', { name: 'x', type: 'public' })).status).toBe(401);
  });

  it('shows a public room to anyone and a private one only to members, answering outsiders as if it did not exist', async () => {
    const [alice, bob] = await fx.users(2);
    const publicRoom = await fx.room(alice!, [], 'public');
    const privateRoom = await fx.room(alice!);
    expect((await fx.api.get(`/api/rooms/${publicRoom}`, { token: bob!.token })).body.room).toMatchObject({ _id: publicRoom, type: 'public' });
    expect((await fx.api.get(`/api/rooms/${privateRoom}`, { token: alice!.token })).body.room).toMatchObject({ role: 'owner' });
    const hidden = await fx.api.get(`/api/rooms/${privateRoom}`, { token: bob!.token });
    const missing = await fx.api.get(`/api/rooms/${new ObjectId().toHexString()}`, { token: bob!.token });
    expect(hidden.status).toBe(404);
    expect(missing.body).toEqual(hidden.body);
    expect((await fx.api.get(`/api/rooms/${privateRoom}/members`, { token: bob!.token })).body).toEqual(hidden.body);
  });

  it('answers malformed ids and operator objects with 400', async () => {
    const [alice] = await fx.users(1);
    const roomId = await fx.room(alice!);
    for (const path of ['/api/rooms/not-an-id', `/api/rooms/${encodeURIComponent('{"$gt":""}')}`, `/api/rooms/${roomId}x/members`]) {
      const response = await fx.api.get(path, { token: alice!.token });
      expect(response.status, path).toBe(400);
    }
    for (const body of [{ userId: { $ne: null } }, { userId: 'nope' }, { userId: [alice!.id] }]) {
      expect((await fx.api.post(`/api/rooms/${roomId}/members`, body, { token: alice!.token })).status).toBe(400);
      expect((await fx.api.post('/api/rooms/direct', body, { token: alice!.token })).status).toBe(400);
    }
    expect((await fx.api.get(`/api/rooms/${roomId}/members?limit=101`, { token: alice!.token })).status).toBe(400);
    expect((await fx.api.get('/api/rooms?page=0', { token: alice!.token })).status).toBe(400);
  });
});

describe('membership', () => {
  it('joins public rooms (idempotently) and refuses private ones like missing rooms', async () => {
    const [alice, bob] = await fx.users(2);
    const publicRoom = await fx.room(alice!, [], 'public');
    const privateRoom = await fx.room(alice!);
    const joined = await fx.api.post(`/api/rooms/${publicRoom}/join`, undefined, { token: bob!.token });
    expect(joined).toMatchObject({ status: 200, body: { success: true, joined: true, room: { memberCount: 2 } } });
    expect((await fx.api.post(`/api/rooms/${publicRoom}/join`, undefined, { token: bob!.token })).body).toMatchObject({ joined: false, room: { memberCount: 2 } });
    const refused = await fx.api.post(`/api/rooms/${privateRoom}/join`, undefined, { token: bob!.token });
    const missing = await fx.api.post(`/api/rooms/${new ObjectId().toHexString()}/join`, undefined, { token: bob!.token });
    expect(refused.status).toBe(404);
    expect(missing.body).toEqual(refused.body);
    expect(await fx.db.collection('memberships').countDocuments({ roomId: new ObjectId(privateRoom) })).toBe(1);
  });

  it('lets owners and admins add members to private rooms, only owners make admins, plain members add nobody', async () => {
    const [owner, admin, member, newcomer, another] = await fx.users(5);
    const roomId = await fx.room(owner!, [member!]);
    expect((await fx.api.post(`/api/rooms/${roomId}/members`, { userId: admin!.id, role: 'admin' }, { token: owner!.token })).status).toBe(201);
    expect((await fx.api.post(`/api/rooms/${roomId}/members`, { userId: newcomer!.id }, { token: member!.token })).status).toBe(403);
    const newcomerHub = await fx.connect(newcomer!);
    const told = newcomerHub.next('room_added');
    expect((await fx.api.post(`/api/rooms/${roomId}/members`, { userId: newcomer!.id, role: 'admin' }, { token: admin!.token })).status).toBe(403);
    const added = await fx.api.post(`/api/rooms/${roomId}/members`, { userId: newcomer!.id }, { token: admin!.token });
    expect(added).toMatchObject({ status: 201, body: { added: true, room: { memberCount: 4 } } });
    expect((await told).data.room).toMatchObject({ _id: roomId, memberCount: 4 });
    expect((await fx.api.post(`/api/rooms/${roomId}/members`, { userId: newcomer!.id }, { token: admin!.token })).body).toMatchObject({ added: false, room: { memberCount: 4 } });
    expect((await fx.api.post(`/api/rooms/${roomId}/members`, { userId: new ObjectId().toHexString() }, { token: owner!.token })).status).toBe(404);
    expect((await fx.api.post(`/api/rooms/${roomId}/members`, { userId: member!.id }, { token: another!.token })).status).toBe(404);
    // The owner promotes an existing member.
    expect((await fx.api.post(`/api/rooms/${roomId}/members`, { userId: member!.id, role: 'admin' }, { token: owner!.token })).status).toBe(200);
    const roles = await fx.api.get(`/api/rooms/${roomId}/members`, { token: member!.token });
    expect(Object.fromEntries(roles.body.members.map((m: any) => [m.userId, m.role]))).toEqual({ [owner!.id]: 'owner', [admin!.id]: 'admin', [member!.id]: 'admin', [newcomer!.id]: 'member' });
    expect(roles.body.members[0].user).toMatchObject({ _id: owner!.id, username: owner!.username });
    expect(roles.body.members[0].user.email).toBeUndefined();
  });

  it('hands the room to the longest-standing admin when the owner leaves', async () => {
    const [owner, member, admin] = await fx.users(3);
    const roomId = await fx.room(owner!, [member!]);
    await fx.api.post(`/api/rooms/${roomId}/members`, { userId: admin!.id, role: 'admin' }, { token: owner!.token });
    const left = await fx.api.post(`/api/rooms/${roomId}/leave`, undefined, { token: owner!.token });
    expect(left).toMatchObject({ status: 200, body: { room: { memberCount: 2 } } });
    expect((await fx.api.get(`/api/rooms/${roomId}`, { token: admin!.token })).body.room.role).toBe('owner');
    expect((await fx.api.post(`/api/rooms/${roomId}/leave`, undefined, { token: owner!.token })).status).toBe(404);
    expect((await fx.api.get(`/api/rooms/${roomId}`, { token: owner!.token })).status).toBe(404);
  });

  it('pages the members of a room', async () => {
    const [owner] = await fx.users(1);
    const others = await fx.users(7);
    const roomId = await fx.room(owner!, others);
    const first = await fx.api.get(`/api/rooms/${roomId}/members?limit=3`, { token: owner!.token });
    const third = await fx.api.get(`/api/rooms/${roomId}/members?limit=3&page=3`, { token: owner!.token });
    expect(first.body).toMatchObject({ page: 1, total: 8, hasMore: true });
    expect(first.body.members.map((m: any) => m.userId)).toEqual([owner!.id, others[0]!.id, others[1]!.id]);
    expect(third.body).toMatchObject({ page: 3, hasMore: false });
    expect(third.body.members.map((m: any) => m.userId)).toEqual([others[5]!.id, others[6]!.id]);
  });
});

describe('direct rooms', () => {
  it('is the same room for the same pair every time, from either side', async () => {
    const [alice, bob] = await fx.users(2);
    const first = await fx.api.post('/api/rooms/direct', { userId: bob!.id }, { token: alice!.token });
    expect(first).toMatchObject({ status: 201, body: { room: { type: 'direct', memberCount: 2 } } });
    expect(first.body.room.participants.sort()).toEqual([alice!.id, bob!.id].sort());
    const again = await fx.api.post('/api/rooms/direct', { userId: bob!.id.toUpperCase() }, { token: alice!.token });
    const reverse = await fx.api.post('/api/rooms/direct', { userId: alice!.id }, { token: bob!.token });
    expect(again).toMatchObject({ status: 200, body: { room: { _id: first.body.room._id } } });
    expect(reverse).toMatchObject({ status: 200, body: { room: { _id: first.body.room._id } } });
    const concurrent = await Promise.all(Array.from({ length: 5 }, () => fx.api.post('/api/rooms/direct', { userId: bob!.id }, { token: alice!.token })));
    expect(new Set(concurrent.map((r) => r.body.room._id))).toEqual(new Set([first.body.room._id]));
    const key = [alice!.id, bob!.id].sort().join(':');
    expect(await fx.db.collection('rooms').countDocuments({ directKey: key })).toBe(1);
    expect((await fx.api.post(`/api/rooms/${first.body.room._id}/members`, { userId: (await fx.users(1))[0]!.id }, { token: alice!.token })).status).toBe(403);
  });

  it('refuses when either side blocked the other, and stops sends in an existing direct room', async () => {
    const [alice, bob, carol] = await fx.users(3);
    const room = await fx.api.post('/api/rooms/direct', { userId: bob!.id }, { token: alice!.token });
    expect((await fx.api.post(`/api/auth/block/${alice!.id}`, {}, { token: bob!.token })).status).toBe(200);
    expect((await fx.api.post(`/api/auth/block/${bob!.id}`, {}, { token: carol!.token })).status).toBe(200);
    expect((await fx.api.post('/api/rooms/direct', { userId: alice!.id }, { token: bob!.token })).status).toBe(403);
    expect((await fx.api.post('/api/rooms/direct', { userId: bob!.id }, { token: carol!.token })).status).toBe(403);
    expect((await fx.api.post('/api/rooms/direct', { userId: carol!.id }, { token: bob!.token })).status).toBe(403);
    const sent = await fx.api.post('/api/messages', { roomId: room.body.room._id, content: 'hello?' }, { token: alice!.token });
    expect(sent.status).toBe(403);
    expect((await fx.api.post('/api/rooms/direct', { userId: alice!.id }, { token: alice!.token })).status).toBe(400);
    expect((await fx.api.post('/api/rooms/direct', { userId: new ObjectId().toHexString() }, { token: alice!.token })).status).toBe(404);
  });
});

describe('room lists', () => {
  it('lists my rooms, most recently active first, with unread counts and the last message', async () => {
    const [alice, bob] = await fx.users(2);
    const quiet = await fx.room(alice!, [bob!]);
    const busy = await fx.room(alice!, [bob!]);
    for (const content of ['one', 'two', 'three']) {
      expect((await fx.api.post('/api/messages', { roomId: busy, content }, { token: bob!.token })).status).toBe(201);
    }
    expect((await fx.api.post('/api/messages', { roomId: busy, content: 'mine' }, { token: alice!.token })).status).toBe(201);
    // lastMessageAt, which orders the list, is written in the background after the messages are stored.
    await expect.poll(async () => (await fx.api.get('/api/rooms', { token: alice!.token })).body.rooms.map((r: any) => r._id), { timeout: 10_000 }).toEqual([busy, quiet]);
    const mine = await fx.api.get('/api/rooms', { token: alice!.token });
    expect(mine.body).toMatchObject({ success: true, page: 1, hasMore: false });
    expect(mine.body.rooms.map((r: any) => r._id)).toEqual([busy, quiet]);
    expect(mine.body.rooms[0]).toMatchObject({ role: 'owner', unreadCount: 3, lastMessage: { content: 'mine', senderId: alice!.id } });
    expect(mine.body.rooms[1]).toMatchObject({ unreadCount: 0, lastMessage: null });
    const paged = await fx.api.get('/api/rooms?limit=1', { token: alice!.token });
    expect(paged.body).toMatchObject({ hasMore: true });
    expect(paged.body.rooms).toHaveLength(1);
  });

  it('lists public rooms with whether I joined them, never private ones', async () => {
    const [alice, bob] = await fx.users(2);
    const open = await fx.room(alice!, [], 'public');
    const closed = await fx.room(alice!);
    await fx.api.post(`/api/rooms/${open}/join`, undefined, { token: bob!.token });
    const listing = await fx.api.get('/api/rooms/public?limit=100', { token: bob!.token });
    const ids = listing.body.rooms.map((r: any) => r._id);
    expect(ids).toContain(open);
    expect(ids).not.toContain(closed);
    expect(listing.body.rooms.find((r: any) => r._id === open)).toMatchObject({ joined: true, memberCount: 2 });
    expect(listing.body.rooms.every((r: any) => r.type === 'public')).toBe(true);
  });
});

describe('room retention', () => {
  const patch = (roomId: string, body: unknown, user: { token: string }) => fx.api.patch(`/api/rooms/${roomId}`, body, { token: user.token });
  const stored = async (roomId: string) => (await fx.db.collection('rooms').findOne({ _id: new ObjectId(roomId) }))!;

  it('lets the owner set it, tells the room, and null hands the room back to RETENTION_DAYS', async () => {
    const [owner, member] = await fx.users(2);
    const roomId = await fx.room(owner!, [member!]);
    expect((await fx.api.get(`/api/rooms/${roomId}`, { token: owner!.token })).body.room.retentionDays).toBeNull();
    const memberHub = await fx.connect(member!);
    await join(memberHub, roomId);

    const told = memberHub.next('room_updated');
    const set = await patch(roomId, { retentionDays: 14 }, owner!);
    expect(set).toMatchObject({ status: 200, body: { success: true, room: { _id: roomId, retentionDays: 14, role: 'owner' } } });
    const update = (await told).data.room;
    expect(update).toMatchObject({ _id: roomId, retentionDays: 14 });
    // The broadcast goes to every member: it carries no one's role.
    expect(update.role).toBeUndefined();
    expect((await fx.api.get(`/api/rooms/${roomId}`, { token: member!.token })).body.room.retentionDays).toBe(14);
    expect(await stored(roomId)).toMatchObject({ retentionDays: 14 });

    for (const retentionDays of [0, 36_500]) {
      expect((await patch(roomId, { retentionDays }, owner!)).body.room.retentionDays).toBe(retentionDays);
    }
    const toldReset = memberHub.next('room_updated', (data) => data.room.retentionDays === null);
    const reset = await patch(roomId, { retentionDays: null }, owner!);
    expect(reset).toMatchObject({ status: 200, body: { room: { retentionDays: null } } });
    expect((await stored(roomId)).retentionDays ?? null).toBeNull();
    await toldReset;
    expect(memberHub.received('room_updated').map((frame) => frame.data.room.retentionDays)).toEqual([14, 0, 36_500, null]);
  });

  it('refuses invalid values with the envelope and changes nothing', async () => {
    const [owner] = await fx.users(1);
    const roomId = await fx.room(owner!);
    expect((await patch(roomId, { retentionDays: 30 }, owner!)).status).toBe(200);
    const before = await stored(roomId);
    for (const body of [{ retentionDays: -1 }, { retentionDays: 1.5 }, { retentionDays: '7' }, { retentionDays: 36_501 }, { retentionDays: 7, name: 'renamed' }, {}, { retentionDays: { $gt: 0 } }, [7]]) {
      const response = await patch(roomId, body, owner!);
      expect(response.status, JSON.stringify(body)).toBe(400);
      expect(response.body).toMatchObject({ success: false, error: { code: 'VALIDATION_FAILED' } });
      expect(response.body.error.details.length, JSON.stringify(body)).toBeGreaterThan(0);
    }
    expect(await stored(roomId)).toEqual(before);
    expect((await fx.api.patch(`/api/rooms/${roomId}`, { retentionDays: 1 })).status).toBe(401);
    expect(await stored(roomId)).toEqual(before);
  });

  it('lets admins set it, refuses plain members, and answers outsiders of private rooms as if the room did not exist', async () => {
    const [owner, admin, member, outsider] = await fx.users(4);
    const roomId = await fx.room(owner!, [member!]);
    expect((await fx.api.post(`/api/rooms/${roomId}/members`, { userId: admin!.id, role: 'admin' }, { token: owner!.token })).status).toBe(201);
    expect((await patch(roomId, { retentionDays: 3 }, admin!))).toMatchObject({ status: 200, body: { room: { retentionDays: 3, role: 'admin' } } });

    const refused = await patch(roomId, { retentionDays: 1 }, member!);
    expect(refused).toMatchObject({ status: 403, body: { success: false, error: { code: 'FORBIDDEN' } } });
    const hidden = await patch(roomId, { retentionDays: 1 }, outsider!);
    const missing = await patch(new ObjectId().toHexString(), { retentionDays: 1 }, outsider!);
    expect(hidden.status).toBe(404);
    expect(missing.body).toEqual(hidden.body);
    expect((await stored(roomId)).retentionDays).toBe(3);

    // A public room is visible to anyone, so an outsider is refused rather than told it is missing.
    const open = await fx.room(owner!, [], 'public');
    expect((await patch(open, { retentionDays: 1 }, outsider!)).status).toBe(403);
    expect((await stored(open)).retentionDays).toBeUndefined();
  });

  it('lets either member of a direct room set it', async () => {
    const [alice, bob, carol] = await fx.users(3);
    const roomId = (await fx.api.post('/api/rooms/direct', { userId: bob!.id }, { token: alice!.token })).body.room._id as string;
    expect((await patch(roomId, { retentionDays: 1 }, alice!)).body.room.retentionDays).toBe(1);
    expect((await patch(roomId, { retentionDays: 0 }, bob!)).body.room.retentionDays).toBe(0);
    expect((await patch(roomId, { retentionDays: 5 }, carol!)).status).toBe(404);
    expect((await stored(roomId)).retentionDays).toBe(0);
  });
});
