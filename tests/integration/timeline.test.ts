import { ObjectId, type Db, type MongoClient } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../../src/db/migrate.js';
import { createLogger } from '../../src/logger.js';
import { MemoryTimeline } from '../../src/modules/messages/memory-timeline.js';
import { MessagesRepo, type MessageChange } from '../../src/modules/messages/repo.js';
import { QueryTimeline, type Timeline } from '../../src/modules/messages/timeline.js';
import { TimelineRepo } from '../../src/modules/messages/timeline-repo.js';
import type { MessageDocument } from '../../src/modules/messages/types.js';
import { connectTestDb, testDatabaseUri } from '../support/chatd.js';

const logger = createLogger({ level: 'silent', pretty: false });
const clients: MongoClient[] = [];

afterAll(async () => {
  await Promise.all(clients.map((client) => client.close()));
});

async function freshDb(prefix: string): Promise<Db> {
  const { client, db } = await connectTestDb(testDatabaseUri(prefix));
  clients.push(client);
  await migrate(db, { logger });
  return db;
}

/** The messages repo, counting how often every message was read to build an index. */
class CountingRepo extends MessagesRepo {
  scans = 0;

  override async *indexFields() {
    this.scans += 1;
    yield* super.indexFields();
  }
}

let clock = Math.floor(Date.now() / 1000) - 7200;
/** A message made `clock` seconds ago (ids in order, an hour or two back), not changed since. */
function message(roomId: ObjectId, senderId: ObjectId, extra: Partial<MessageDocument> = {}): MessageDocument {
  clock += 1;
  const _id = new ObjectId(clock);
  const createdAt = _id.getTimestamp();
  return { _id, roomId, senderId, content: `m ${_id.toHexString()}`, messageType: 'text', encrypted: false, readBy: [], reactions: [], editHistory: [], isDeleted: false, clientMsgId: _id.toHexString(), createdAt, updatedAt: createdAt, ...extra };
}

/** Stores messages the way the writer does and tells the timeline. */
async function store(timeline: Timeline, repo: MessagesRepo, docs: MessageDocument[]): Promise<void> {
  await timeline.beforeWrite();
  expect((await repo.insertOrdered(docs)).stored).toBe(docs.length);
  for (const doc of docs) timeline.appended(doc);
}

async function change(timeline: Timeline, repo: MessagesRepo, id: ObjectId, next: MessageChange): Promise<MessageDocument> {
  await timeline.beforeWrite();
  const result = await repo.modify(id, () => next);
  timeline.changed(result!.doc);
  return result!.doc;
}

const idsOf = (docs: MessageDocument[]) => docs.map((doc) => doc._id.toHexString());

const kinds = {
  'MongoDB (indexed queries)': (db: Db, repo: MessagesRepo) => new QueryTimeline(repo, new TimelineRepo(db)),
  'FerretDB (index in memory)': (db: Db, repo: MessagesRepo) => new MemoryTimeline({ messages: repo, saved: new TimelineRepo(db), logger }),
};

describe.each(Object.entries(kinds))('the timeline on %s', (_name, make) => {
  let db: Db;
  let repo: MessagesRepo;
  let timeline: Timeline;
  const alice = new ObjectId();
  const bob = new ObjectId();
  const room = new ObjectId();
  const otherRoom = new ObjectId();
  let history: MessageDocument[] = [];

  beforeAll(async () => {
    db = await freshDb('timeline');
    repo = new MessagesRepo(db);
    timeline = make(db, repo);
    await timeline.start();
    const elsewhere = message(otherRoom, alice);
    history = Array.from({ length: 30 }, (_, i) => message(room, i % 3 === 0 ? alice : bob));
    await store(timeline, repo, history.slice(0, 20));
    await store(timeline, repo, [elsewhere, ...history.slice(20)]);
  });

  it('pages a room newest first, by offset or before a message, and lists what came after a message', async () => {
    expect(idsOf(await timeline.page(room, { skip: 0, limit: 5 }))).toEqual(idsOf(history.slice(25).reverse()));
    expect(idsOf(await timeline.page(room, { skip: 25, limit: 10 }))).toEqual(idsOf(history.slice(0, 5).reverse()));
    expect(idsOf(await timeline.page(room, { before: history[10]!._id, skip: 0, limit: 3 }))).toEqual(idsOf(history.slice(7, 10).reverse()));
    expect(idsOf(await timeline.after(room, history[26]!._id, 10))).toEqual(idsOf(history.slice(27)));
    expect((await timeline.latestIn(room))!._id).toEqual(history[29]!._id);
    expect(await timeline.latestIn(new ObjectId())).toBeNull();
    expect((await timeline.newestId())!.toHexString()).toBe(history[29]!._id.toHexString());
    expect((await timeline.page(room, { skip: 0, limit: 1 }))[0]).toMatchObject({ content: history[29]!.content, roomId: room });
  });

  it('counts unread messages of others after a marker, leaving out deleted ones', async () => {
    const marker = history[19]!._id;
    expect(await timeline.countUnread(room, marker, alice, 1000)).toBe(history.slice(20).filter((m) => !m.senderId.equals(alice)).length);
    expect(await timeline.countUnread(room, null, bob, 1000)).toBe(10);
    expect(await timeline.countUnread(room, null, bob, 4)).toBe(4);
    await change(timeline, repo, history[28]!._id, { kind: 'delete', at: new Date() });
    expect(await timeline.countUnread(room, marker, alice, 1000)).toBe(history.slice(20).filter((m) => !m.senderId.equals(alice)).length - 1);
  });

  it('answers which messages up to a cursor changed since it was sent, with their content after the change', async () => {
    const since = history[24]!;
    const reacted = await change(timeline, repo, history[3]!._id, { kind: 'reactions', reactions: [{ emoji: '👍', userId: bob, createdAt: new Date() }], at: new Date() });
    const edited = await change(timeline, repo, history[10]!._id, { kind: 'edit', content: 'edited', at: new Date() });
    await change(timeline, repo, history[12]!._id, { kind: 'receipt', receipt: { userId: alice, readAt: new Date() } });
    // After the cursor: those come as new messages, not as changes.
    await change(timeline, repo, history[27]!._id, { kind: 'edit', content: 'later one, edited', at: new Date() });
    const answer = await timeline.changedSince(room, since._id, since._id.getTimestamp(), 500);
    expect(answer.truncated).toBe(false);
    // MongoDB's query also answers messages sent in the cursor's second (the cursor itself),
    // changed or not: clients de-duplicate by id. Nothing else unchanged, nothing after the cursor.
    const messages = answer.messages.filter((m) => m.updatedAt > m.createdAt);
    expect(answer.messages.filter((m) => m.updatedAt <= m.createdAt).every((m) => m._id.getTimestamp() >= since._id.getTimestamp() && m._id.toHexString() <= since._id.toHexString())).toBe(true);
    expect(idsOf(messages)).toEqual(idsOf([history[3]!, history[10]!, history[12]!]));
    expect(messages[0]!.reactions).toEqual(reacted.reactions);
    expect(messages[1]).toMatchObject({ content: 'edited', editHistory: edited.editHistory });
    expect(messages[2]!.readBy).toHaveLength(1);
    const cut = await timeline.changedSince(room, since._id, since._id.getTimestamp(), 2);
    expect(cut.truncated).toBe(true);
    expect(cut.messages).toHaveLength(2);
  });

  it('knows which rooms still share a file', async () => {
    const file = new ObjectId();
    const attachment = { fileId: file, fileName: 'a.png', fileSize: 1, fileUrl: `/api/files/${file.toHexString()}`, mimeType: 'image/png' };
    const inRoom = message(room, alice, { fileAttachment: attachment, messageType: 'image' });
    const inOther = message(otherRoom, alice, { fileAttachment: attachment, messageType: 'image' });
    await store(timeline, repo, [inRoom, inOther]);
    expect((await timeline.roomsSharing(file)).map((id) => id.toHexString()).sort()).toEqual([room.toHexString(), otherRoom.toHexString()].sort());
    await change(timeline, repo, inOther._id, { kind: 'delete', at: new Date() });
    expect(await timeline.roomsSharing(file)).toEqual([room]);
    expect(await timeline.roomsSharing(new ObjectId())).toEqual([]);
  });
});

describe('the message index in memory (FerretDB)', () => {
  const alice = new ObjectId();
  const bob = new ObjectId();

  async function setUp(count = 40) {
    const db = await freshDb('memidx');
    const repo = new CountingRepo(db);
    const saved = new TimelineRepo(db);
    const first = new MemoryTimeline({ messages: repo, saved, logger });
    await first.start();
    const room = new ObjectId();
    const docs = Array.from({ length: count }, (_, i) => message(room, i % 2 ? alice : bob));
    await store(first, repo, docs);
    await change(first, repo, docs[5]!._id, { kind: 'edit', content: 'changed', at: new Date() });
    await change(first, repo, docs[6]!._id, { kind: 'delete', at: new Date() });
    return { db, repo, saved, first, room, docs };
  }

  /** What a client sees of a room: the answers that must survive a restart. */
  async function view(timeline: Timeline, room: ObjectId, docs: MessageDocument[]) {
    const since = docs[20]!._id;
    return {
      page: idsOf(await timeline.page(room, { skip: 0, limit: 50 })),
      unread: await timeline.countUnread(room, docs[9]!._id, alice, 1000),
      changed: idsOf((await timeline.changedSince(room, since, new Date(0), 500)).messages),
      newest: (await timeline.newestId())?.toHexString(),
    };
  }

  it('is saved when chatd stops and loaded, not rebuilt, at the next start', async () => {
    const { db, repo, saved, first, room, docs } = await setUp();
    const before = await view(first, room, docs);
    expect(before.page).toHaveLength(40);
    expect(before.changed).toEqual(idsOf([docs[5]!, docs[6]!]));
    await first.close();
    expect(await saved.state()).toMatchObject({ clean: true, messages: 40 });
    const reader = new CountingRepo(db);
    const second = new MemoryTimeline({ messages: reader, saved, logger });
    await second.start();
    expect(reader.scans).toBe(0);
    expect(await view(second, room, docs)).toEqual(before);
    expect(repo.scans).toBe(0);
  });

  it('is rebuilt from the messages after a run that did not stop cleanly, and answers the same', async () => {
    const { db, saved, first, room, docs } = await setUp();
    const before = await view(first, room, docs);
    // No close(): the process died. The saved state says so since the first write.
    expect(await saved.state()).toMatchObject({ clean: false });
    const reader = new CountingRepo(db);
    const second = new MemoryTimeline({ messages: reader, saved, logger });
    await second.start();
    expect(reader.scans).toBe(1);
    expect(await view(second, room, docs)).toEqual(before);
  });

  it('is rebuilt when another program changed the messages while chatd was stopped', async () => {
    const { db, saved, first, room, docs } = await setUp();
    await first.close();
    const stranger = message(room, bob);
    await db.collection('messages').insertOne(stranger);
    const reader = new CountingRepo(db);
    const second = new MemoryTimeline({ messages: reader, saved, logger });
    await second.start();
    expect(reader.scans).toBe(1);
    expect((await second.latestIn(room))!._id).toEqual(stranger._id);
    // Saved anew at close: the next start loads it.
    await second.close();
    const third = new MemoryTimeline({ messages: reader, saved, logger });
    await third.start();
    expect(reader.scans).toBe(1);
    expect((await third.latestIn(room))!._id).toEqual(stranger._id);
  });

  it('skips messages another program deleted while it ran, and still fills the page', async () => {
    const { db, saved, first, room, docs } = await setUp();
    await first.close();
    // Loaded afresh, so nothing is cached: the deleted messages are found missing when read.
    const second = new MemoryTimeline({ messages: new CountingRepo(db), saved, logger });
    await second.start();
    await db.collection('messages').deleteMany({ _id: { $in: [docs[39]!._id, docs[37]!._id] } });
    expect(idsOf(await second.page(room, { skip: 0, limit: 5 }))).toEqual(idsOf([docs[38]!, docs[36]!, docs[35]!, docs[34]!, docs[33]!]));
    expect((await second.latestIn(room))!._id).toEqual(docs[38]!._id);
    expect(idsOf(await second.after(room, docs[35]!._id, 10))).toEqual(idsOf([docs[36]!, docs[38]!]));
  });

  it('forgets what retention deletes, and the saved index still matches afterwards', async () => {
    const { db, saved, first, room, docs } = await setUp(10);
    const old = Array.from({ length: 3 }, () => message(room, bob, { createdAt: new Date(Date.now() - 40 * 86_400_000) }));
    // Stored later than the others but created long ago, as in a restored archive.
    await store(first, repo(db), old);
    // What MessagesService.expire does.
    await first.beforeWrite();
    const expired = await repo(db).deleteOlderThan(null, new Date(Date.now() - 30 * 86_400_000), 500);
    first.removed(expired.map((message) => ({ id: message._id, roomId: message.roomId })));
    expect(expired).toHaveLength(3);
    expect(idsOf(await first.page(room, { skip: 0, limit: 50 }))).toEqual(idsOf(docs.slice().reverse()));
    // Bob's five, less the one deleted in setUp.
    expect(await first.countUnread(room, null, alice, 1000)).toBe(4);
    await first.close();
    const reader = new CountingRepo(db);
    const second = new MemoryTimeline({ messages: reader, saved, logger });
    await second.start();
    expect(reader.scans).toBe(0);
    expect(idsOf(await second.page(room, { skip: 0, limit: 50 }))).toEqual(idsOf(docs.slice().reverse()));
  });

  it('leaves the database untouched when nothing was written, and marks it before the first write', async () => {
    const { db, saved, first } = await setUp(10);
    await first.close();
    const savedAt = (await db.collection('message_index').findOne({ _id: 'state' as never }))!.savedAt;
    const second = new MemoryTimeline({ messages: new CountingRepo(db), saved, logger });
    await second.start();
    await second.close();
    expect((await db.collection('message_index').findOne({ _id: 'state' as never }))!.savedAt).toEqual(savedAt);
    const third = new MemoryTimeline({ messages: new CountingRepo(db), saved, logger });
    await third.start();
    await third.beforeWrite();
    expect(await saved.state()).toMatchObject({ clean: false });
  });
});

function repo(db: Db): MessagesRepo {
  return new MessagesRepo(db);
}
