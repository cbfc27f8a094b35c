import { ObjectId, type Db, type MongoClient } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../../src/db/migrate.js';
import { createLogger } from '../../src/logger.js';
import { MonotonicIds } from '../../src/modules/messages/ids.js';
import { MessagesRepo, type BatchInsertResult } from '../../src/modules/messages/repo.js';
import type { MessageDocument } from '../../src/modules/messages/types.js';
import { MessageWriter } from '../../src/modules/messages/writer.js';
import { connectTestDb, testDatabaseUri } from '../support/chatd.js';

const logger = createLogger({ level: 'silent', pretty: false });
let client: MongoClient;
let db: Db;

beforeAll(async () => {
  ({ client, db } = await connectTestDb(testDatabaseUri('writer')));
  await migrate(db, { logger });
});
afterAll(async () => {
  await client.close();
});

const ids = new MonotonicIds();

function message(senderId: ObjectId, roomId: ObjectId, clientMsgId?: string): MessageDocument {
  const _id = ids.next();
  const now = new Date();
  return {
    _id, roomId, senderId, content: `m ${_id.toHexString()}`, messageType: 'text', encrypted: false, readBy: [], reactions: [], editHistory: [],
    isDeleted: false, clientMsgId: clientMsgId ?? _id.toHexString(), createdAt: now, updatedAt: now,
  };
}

function writer(repo: MessagesRepo, stored: MessageDocument[], batchMax = 64) {
  return new MessageWriter({
    repo, logger, batchMax, flushMs: 5, queueMax: 1000,
    onStored: (doc) => {
      stored.push(doc);
      return JSON.stringify({ _id: doc._id.toHexString() });
    },
  });
}

describe('the group-commit writer', () => {
  it('stores a batch in one go, answers only after it is stored, and broadcasts in id order', async () => {
    const repo = new MessagesRepo(db);
    const stored: MessageDocument[] = [];
    const w = writer(repo, stored);
    const sender = new ObjectId();
    const room = new ObjectId();
    const docs = Array.from({ length: 30 }, () => message(sender, room));
    const results = await Promise.all(docs.map((doc) => w.write(doc, sender.toHexString()).then(async (result) => {
      // Acknowledged means readable.
      expect(await db.collection('messages').countDocuments({ _id: doc._id })).toBe(1);
      return result;
    })));
    expect(results.every((r) => r.created && r.json)).toBe(true);
    expect(stored.map((d) => d._id.toHexString())).toEqual(docs.map((d) => d._id.toHexString()));
  });

  it('turns duplicates inside a batch and against stored messages into the stored message, storing the rest in order', async () => {
    const repo = new MessagesRepo(db);
    const stored: MessageDocument[] = [];
    const w = writer(repo, stored);
    const sender = new ObjectId();
    const room = new ObjectId();
    const original = await w.write(message(sender, room, 'dup-stored'), sender.toHexString());

    const before = message(sender, room, 'fresh-1');
    const again = message(sender, room, 'dup-stored');
    const twinA = message(sender, room, 'twin');
    const twinB = message(sender, room, 'twin');
    const after = message(sender, room, 'fresh-2');
    const results = await Promise.all([before, again, twinA, twinB, after].map((doc) => w.write(doc, sender.toHexString())));
    expect(results.map((r) => r.created)).toEqual([true, false, true, false, true]);
    expect(results[1]!.doc._id.equals(original.doc._id)).toBe(true);
    expect(results[3]!.doc._id.equals(twinA._id)).toBe(true);
    const inRoom = await db.collection('messages').find({ roomId: room }).sort({ _id: 1 }).toArray();
    expect(inRoom.map((d) => d.clientMsgId)).toEqual(['dup-stored', 'fresh-1', 'twin', 'fresh-2']);
    expect(stored.map((d) => d.clientMsgId)).toEqual(['dup-stored', 'fresh-1', 'twin', 'fresh-2']);
  });

  it('retries a batch whose outcome was lost without storing anything twice', async () => {
    // The real repo, with the reply of its first insert lost as if the connection dropped after the write.
    class LossyRepo extends MessagesRepo {
      failures = 1;
      override async insertOrdered(docs: MessageDocument[]): Promise<BatchInsertResult> {
        if (this.failures-- > 0) {
          await super.insertOrdered(docs.slice(0, 3));
          throw new Error('connection reset after the write');
        }
        return super.insertOrdered(docs);
      }
    }
    const repo = new LossyRepo(db);
    const stored: MessageDocument[] = [];
    const w = writer(repo, stored);
    const sender = new ObjectId();
    const room = new ObjectId();
    const docs = Array.from({ length: 8 }, () => message(sender, room));
    const results = await Promise.all(docs.map((doc) => w.write(doc, sender.toHexString())));
    expect(results.every((r) => r.created)).toBe(true);
    expect(await db.collection('messages').countDocuments({ roomId: room })).toBe(8);
    expect(stored.map((d) => d._id.toHexString())).toEqual(docs.map((d) => d._id.toHexString()));
  });

  it('does not hold other senders back while it looks up the original of a retried message, and drain waits for it', async () => {
    // The real repository, with its lookup of originals held until the test lets it go.
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    class HeldLookupRepo extends MessagesRepo {
      override async findByClientIds(keys: { senderId: ObjectId; clientMsgId: string }[]): Promise<MessageDocument[]> {
        await held;
        return super.findByClientIds(keys);
      }
    }
    const stored: MessageDocument[] = [];
    const w = writer(new HeldLookupRepo(db), stored);
    const sender = new ObjectId();
    const other = new ObjectId();
    const room = new ObjectId();
    const original = await w.write(message(sender, room, 'retried'), sender.toHexString());

    let retryAnswered = false;
    const retry = w.write(message(sender, room, 'retried'), sender.toHexString()).then((result) => ((retryAnswered = true), result));
    // Let the retry's batch reach its duplicate before the next message arrives.
    while (w.backlog > 0) await new Promise((resolve) => setImmediate(resolve));
    const next = await w.write(message(other, room, 'next'), other.toHexString());
    expect(next.created).toBe(true);
    expect(retryAnswered).toBe(false);

    const drained = w.drain(5000);
    release();
    await drained;
    expect(retryAnswered).toBe(true);
    const answered = await retry;
    expect(answered.created).toBe(false);
    expect(answered.doc._id.equals(original.doc._id)).toBe(true);
    expect(stored.map((d) => d.clientMsgId)).toEqual(['retried', 'next']);
  });

  it('stores everything accepted on drain and refuses new messages afterwards', async () => {
    const repo = new MessagesRepo(db);
    const stored: MessageDocument[] = [];
    const w = new MessageWriter({ repo, logger, batchMax: 10, flushMs: 60_000, queueMax: 1000, onStored: (doc) => (stored.push(doc), '') });
    const sender = new ObjectId();
    const room = new ObjectId();
    const pending = Array.from({ length: 25 }, () => w.write(message(sender, room), sender.toHexString()));
    await w.drain(5000);
    expect(await db.collection('messages').countDocuments({ roomId: room })).toBe(25);
    expect((await Promise.all(pending)).every((r) => r.created)).toBe(true);
    await expect(w.write(message(sender, room), sender.toHexString())).rejects.toMatchObject({ code: 'UNAVAILABLE' });
  });

  it('stores a lone message on a quiet writer without waiting for the window, and batches with the window while messages flow', async () => {
    const repo = new MessagesRepo(db);
    const w = new MessageWriter({ repo, logger, batchMax: 100, flushMs: 60_000, queueMax: 1000, onStored: () => '' });
    const sender = new ObjectId();
    const room = new ObjectId();
    // Quiet: stored and answered long before a 60 s window could pass (the test would time out).
    expect((await w.write(message(sender, room), sender.toHexString())).created).toBe(true);
    // Right after a batch (once the writer is idle again: a message sent while a batch is being
    // stored goes right after it): the next message waits for company.
    expect(await db.collection('messages').countDocuments({ roomId: room })).toBe(1);
    let answered = false;
    const next = w.write(message(sender, room), sender.toHexString()).then((result) => ((answered = true), result));
    expect(await db.collection('messages').countDocuments({ roomId: room })).toBe(1);
    expect(answered).toBe(false);
    await w.drain(5000);
    expect((await next).created).toBe(true);
    expect(await db.collection('messages').countDocuments({ roomId: room })).toBe(2);
  });

  it('refuses with UNAVAILABLE beyond its queue bound', async () => {
    const repo = new MessagesRepo(db);
    const w = new MessageWriter({ repo, logger, batchMax: 100, flushMs: 60_000, queueMax: 3, onStored: () => '' });
    const sender = new ObjectId();
    const room = new ObjectId();
    const accepted = [1, 2, 3].map(() => w.write(message(sender, room), sender.toHexString()));
    await expect(w.write(message(sender, room), sender.toHexString())).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    await w.drain(5000);
    expect(await Promise.all(accepted)).toHaveLength(3);
  });
});

describe('message ids', () => {
  it('always grow, even after an id from the future was stored', () => {
    const source = new MonotonicIds();
    const future = ObjectId.createFromTime(Math.floor(Date.now() / 1000) + 3600);
    source.seed(future);
    const next = source.next();
    expect(next.toHexString() > future.toHexString()).toBe(true);
    let last = next.toHexString();
    for (let i = 0; i < 1000; i += 1) {
      const id = source.next().toHexString();
      expect(id > last).toBe(true);
      last = id;
    }
  });
});
