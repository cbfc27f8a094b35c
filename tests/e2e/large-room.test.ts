import { ObjectId } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { messagingFixture, send, type MessagingFixture } from '../support/messaging.js';

// Its own server and database: on the embedded FerretDB every query scans its whole collection,
// so 10 000 memberships would slow every other test sharing the database.
let fx: MessagingFixture;

beforeAll(async () => {
  fx = await messagingFixture();
});
afterAll(async () => {
  await fx?.close();
});

describe('a room of 10 000 members', () => {
  it('checks membership from memory, delivers messages and pages its members', async () => {
    const [owner, speaker] = await fx.users(2);
    const roomId = await fx.room(owner!, [speaker!], 'public');
    const now = Date.now();
    const crowd = Array.from({ length: 9998 }, (_, i) => ({
      roomId: new ObjectId(roomId), userId: new ObjectId(), role: 'member', joinedAt: new Date(now + 1000 + i), lastReadMessageId: null, lastReadAt: null,
    }));
    for (let i = 0; i < crowd.length; i += 2000) await fx.db.collection('memberships').insertMany(crowd.slice(i, i + 2000));
    await fx.db.collection('rooms').updateOne({ _id: new ObjectId(roomId) }, { $inc: { memberCount: crowd.length } });

    const listener = await fx.connect(owner!);
    expect((await listener.request('join_room', { roomId }, 60_000)).event).toBe('message_history');
    const talker = await fx.connect(speaker!);
    const heard = listener.next('new_message', () => true, 60_000);
    const first = await send(talker, roomId, 'hello ten thousand');
    expect((await heard).data.message._id).toBe(first._id);
    // The room is in memory now: more messages ask the database nothing but to store them.
    const more = await Promise.all([1, 2, 3].map((i) => talker.request('send_message', { roomId, content: `more ${i}` }, 60_000)));
    expect(more.every((reply) => reply.event === 'message_sent')).toBe(true);

    const page = await fx.api.get(`/api/rooms/${roomId}/members?page=100&limit=100`, { token: owner!.token });
    expect(page.body).toMatchObject({ total: 10_000, hasMore: false });
    expect(page.body.members).toHaveLength(100);
    expect(page.body.members.at(-1).userId).toBe(crowd.at(-1)!.userId.toHexString());
    const outsider = (await fx.users(1))[0]!;
    expect((await fx.api.post(`/api/rooms/${roomId}/join`, undefined, { token: outsider.token })).body).toMatchObject({ joined: true, room: { memberCount: 10_001 } });
  }, 180_000);
});
