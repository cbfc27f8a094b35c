import { ObjectId } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join, messagingFixture, send, type MessagingFixture } from '../support/messaging.js';

// Many writers changing one document at the same instant. FerretDB applies an update by reading
// the document and writing it back whole, with no lock in between, so without chatd queueing the
// writes per document these lose updates (docs/data-model.md, "Atomicity").

let fx: MessagingFixture;

beforeAll(async () => {
  fx = await messagingFixture({ env: { WS_EVENTS_PER_SECOND: '500', WS_USER_EVENTS_PER_SECOND: '500' } });
});
afterAll(async () => {
  await fx?.close();
});

async function stored(id: string) {
  return (await fx.db.collection('messages').findOne({ _id: new ObjectId(id) }))!;
}

describe('concurrent changes to one message', () => {
  it('keeps every reaction when members react to the same message at the same instant', async () => {
    const users = await fx.users(12);
    const [author, ...others] = users;
    const roomId = await fx.room(author!, others);
    const hubs = await Promise.all(users.map((user) => fx.connect(user)));
    const message = await send(hubs[0]!, roomId, 'react to me');
    const replies = await Promise.all(
      hubs.slice(1).flatMap((hub, i) => [
        hub.request('add_reaction', { messageId: message._id, emoji: '👍' }),
        hub.request('add_reaction', { messageId: message._id, emoji: i % 2 === 0 ? '🎉' : '❤️' }),
      ]),
    );
    expect(replies.every((reply) => reply.event === 'reaction_added' && reply.data.changed === true)).toBe(true);
    const { reactions } = await stored(message._id);
    expect(reactions).toHaveLength(22);
    const pairs = new Set(reactions.map((r: { emoji: string; userId: ObjectId }) => `${r.emoji} ${r.userId.toHexString()}`));
    for (const [i, user] of others.entries()) {
      expect(pairs.has(`👍 ${user.id}`)).toBe(true);
      expect(pairs.has(`${i % 2 === 0 ? '🎉' : '❤️'} ${user.id}`)).toBe(true);
    }
  });

  it('keeps all 20 read receipts sent for one message at once, and broadcasts each', async () => {
    const users = await fx.users(21);
    const [author, ...readers] = users;
    const roomId = await fx.room(author!, readers);
    const hubs = await Promise.all(users.map((user) => fx.connect(user)));
    await join(hubs[0]!, roomId);
    const message = await send(hubs[0]!, roomId, 'read me');
    const replies = await Promise.all(hubs.slice(1).map((hub) => hub.request('mark_message_read', message._id)));
    expect(replies.every((reply) => reply.event === 'message_read')).toBe(true);
    const { readBy } = await stored(message._id);
    expect(readBy.map((r: { userId: ObjectId }) => r.userId.toHexString()).sort()).toEqual(readers.map((r) => r.id).sort());
    await hubs[0]!.settle(300);
    expect(hubs[0]!.received('message_read').filter((frame) => frame.data.messageId === message._id)).toHaveLength(20);
  });

  it('keeps an edit, reactions and receipts made at the same instant', async () => {
    const users = await fx.users(9);
    const [author, ...others] = users;
    const roomId = await fx.room(author!, others);
    const hubs = await Promise.all(users.map((user) => fx.connect(user)));
    const message = await send(hubs[0]!, roomId, 'first words');
    const replies = await Promise.all([
      hubs[0]!.request('edit_message', { messageId: message._id, content: 'second words' }),
      ...hubs.slice(1, 5).map((hub) => hub.request('add_reaction', { messageId: message._id, emoji: '😀' })),
      ...hubs.slice(5).map((hub) => hub.request('mark_message_read', { messageId: message._id })),
    ]);
    expect(replies.map((reply) => reply.event)).toEqual(['message_edited', ...Array(4).fill('reaction_added'), ...Array(4).fill('message_read')]);
    const doc = await stored(message._id);
    expect(doc.content).toBe('second words');
    expect(doc.editHistory).toEqual([expect.objectContaining({ content: 'first words' })]);
    expect(doc.reactions).toHaveLength(4);
    expect(doc.readBy).toHaveLength(4);
  });

  it('answers concurrent deletes of one message once with a broadcast, and every caller with the deleted message', async () => {
    const [author, admin] = await fx.users(2);
    const roomId = await fx.room(author!, []);
    await fx.api.post(`/api/rooms/${roomId}/members`, { userId: admin!.id, role: 'admin' }, { token: author!.token });
    const [a, b] = await Promise.all([fx.connect(author!), fx.connect(admin!)]);
    await join(b!, roomId);
    const message = await send(a!, roomId, 'delete me');
    const replies = await Promise.all([a!.request('delete_message', message._id), b!.request('delete_message', message._id), a!.request('delete_message', { messageId: message._id })]);
    expect(replies.every((reply) => reply.event === 'message_deleted' && reply.data.message.isDeleted === true)).toBe(true);
    await b!.settle(300);
    expect(b!.received('message_deleted').filter((frame) => !frame.id)).toHaveLength(1);
  });
});

describe('concurrent changes to one room or membership', () => {
  it('counts every member when many join a public room at once', async () => {
    const users = await fx.users(25);
    const roomId = await fx.room(users[0]!, [], 'public');
    const joins = await Promise.all(users.slice(1).map((user) => fx.api.post(`/api/rooms/${roomId}/join`, {}, { token: user.token })));
    expect(joins.every((reply) => reply.status === 200 && reply.body.joined === true)).toBe(true);
    const room = await fx.db.collection('rooms').findOne({ _id: new ObjectId(roomId) });
    expect(room!.memberCount).toBe(25);
    expect(await fx.db.collection('memberships').countDocuments({ roomId: new ObjectId(roomId) })).toBe(25);
    const leaves = await Promise.all(users.slice(1, 11).map((user) => fx.api.post(`/api/rooms/${roomId}/leave`, {}, { token: user.token })));
    expect(leaves.every((reply) => reply.status === 200)).toBe(true);
    expect((await fx.db.collection('rooms').findOne({ _id: new ObjectId(roomId) }))!.memberCount).toBe(15);
  });

  it('moves a read marker to the newest of many messages marked read at once, never back', async () => {
    const [author, reader] = await fx.users(2);
    const roomId = await fx.room(author!, [reader!]);
    const [a, r] = await Promise.all([fx.connect(author!), fx.connect(reader!)]);
    const sent = [];
    for (let i = 0; i < 12; i++) sent.push(await send(a!, roomId, `m${i}`));
    // Newest first, so the older marks arrive while the newest one is being written.
    await Promise.all([...sent].reverse().map((message) => r!.request('mark_message_read', message._id)));
    const membership = await fx.db.collection('memberships').findOne({ roomId: new ObjectId(roomId), userId: new ObjectId(reader!.id) });
    expect(membership!.lastReadMessageId.toHexString()).toBe(sent.at(-1)._id);
    const list = await fx.api.get('/api/rooms', { token: reader!.token });
    expect(list.body.rooms.find((room: { _id: string }) => room._id === roomId).unreadCount).toBe(0);
  });
});

describe('concurrent changes to one user', () => {
  it('keeps block-list changes made while the same users come online and go offline', async () => {
    // Presence is stored in batches for many users at once; a batch that rewrote whole user
    // documents could put back the block list it read before a block landed.
    const target = (await fx.users(1))[0]!;
    const users = await fx.users(20);
    const block = () => Promise.all(users.map((user) => fx.api.post(`/api/auth/block/${target.id}`, {}, { token: user.token })));
    const unblock = () => Promise.all(users.map((user) => fx.api.delete(`/api/auth/block/${target.id}`, undefined, { token: user.token })));
    const notBlocking = async () => {
      // Let the presence batch of what just happened land first.
      await new Promise((resolve) => setTimeout(resolve, 300));
      const stored = await fx.db.collection('users').find({ _id: { $in: users.map((user) => new ObjectId(user.id)) } }).toArray();
      return stored.filter((doc) => !doc.blockedUsers?.some((id: ObjectId) => id.equals(new ObjectId(target.id)))).map((doc) => doc.username);
    };
    for (let round = 0; round < 3; round++) {
      const [hubs, blocked] = await Promise.all([Promise.all(users.map((user) => fx.connect(user))), block()]);
      expect(blocked.every((reply) => reply.status === 200)).toBe(true);
      expect(await notBlocking(), `round ${round}, coming online`).toEqual([]);
      await Promise.all([unblock(), Promise.all(hubs.map((hub) => hub.close()))]);
      await block();
      expect(await notBlocking(), `round ${round}, going offline`).toEqual([]);
      await unblock();
    }
  });
});
