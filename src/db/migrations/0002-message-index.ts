import { Binary, ObjectId, type Db } from 'mongodb';
import { detectEngine } from '../engine.js';
import type { Migration } from './types.js';

// On FerretDB, history, resume, unread counts and file access read chatd's own message index
// instead of queries that scan every message. This builds and saves it from the messages already
// stored, so the first `chatd serve` after the upgrade loads it instead of building it itself.
// Safe to run again and after an interruption: it starts by marking the saved index incomplete and
// rebuilds it whole from the messages (the source of truth) each time; `chatd serve` also rebuilds
// an index it finds incomplete. On MongoDB the indexes of 0001 serve these reads, and nothing is
// built.
//
// A migration must do tomorrow what it did the day it shipped, so it carries its own copy of the
// index layout (format 1) instead of importing the messages module: a later chatd that saves
// another format finds format 1 here and rebuilds at start.
//   {_id: 'state', format, clean, messages?, newestId?, savedAt?}
//   {_id: 'room:<roomId>', roomId, count, chunks, deleted, files, changes, forgottenUpTo}
//   {_id: 'room:<roomId>:<n>', ids, senders}   (ids and senders of positions n·CHUNK …)
// Ids are packed 12 bytes each into binary fields; a change is an id and its time (float64 ms).

const FORMAT = 1;
const CHUNK = 8192;
const ID_BYTES = 12;
/** Changed messages kept per room; older changes are summed up in forgottenUpTo. */
const CHANGES_KEPT = 2000;

interface Change {
  id: string;
  at: number;
}

interface Room {
  entries: [id: string, sender: string][];
  deleted: string[];
  files: string[];
  changes: Change[];
}

function hexOf(value: unknown): string | undefined {
  if (value instanceof ObjectId) return value.toHexString();
  if (typeof value === 'string' && /^[0-9a-fA-F]{24}$/.test(value)) return value.toLowerCase();
  return undefined;
}

function packIds(ids: readonly string[]): Binary {
  const bytes = Buffer.alloc(ids.length * ID_BYTES);
  for (let i = 0; i < ids.length; i += 1) bytes.write(ids[i]!, i * ID_BYTES, ID_BYTES, 'hex');
  return new Binary(bytes);
}

function packChanges(changes: readonly Change[]): Binary {
  const bytes = Buffer.alloc(changes.length * (ID_BYTES + 8));
  changes.forEach((change, i) => {
    bytes.write(change.id, i * (ID_BYTES + 8), ID_BYTES, 'hex');
    bytes.writeDoubleLE(change.at, i * (ID_BYTES + 8) + ID_BYTES);
  });
  return new Binary(bytes);
}

/** Every message's index fields, by room; documents chatd could not have written are only counted. */
async function readRooms(db: Db): Promise<{ rooms: Map<string, Room>; unindexed: number }> {
  const rooms = new Map<string, Room>();
  let unindexed = 0;
  const cursor = db
    .collection('messages')
    .find({}, { projection: { _id: 1, roomId: 1, senderId: 1, isDeleted: 1, createdAt: 1, updatedAt: 1, 'fileAttachment.fileId': 1 }, batchSize: 5000 });
  try {
    for await (const message of cursor) {
      const id = hexOf(message._id);
      const roomId = hexOf(message.roomId);
      if (!id || !roomId || !(message.createdAt instanceof Date)) {
        unindexed += 1;
        continue;
      }
      let room = rooms.get(roomId);
      if (!room) rooms.set(roomId, (room = { entries: [], deleted: [], files: [], changes: [] }));
      room.entries.push([id, hexOf(message.senderId) ?? '']);
      if (message.isDeleted === true) room.deleted.push(id);
      const fileId = hexOf(message.fileAttachment?.fileId);
      if (fileId) room.files.push(id, fileId);
      const createdAt = message.createdAt.getTime();
      const updatedAt = message.updatedAt instanceof Date ? message.updatedAt.getTime() : createdAt;
      // A message never changed has updatedAt equal to createdAt.
      if (updatedAt !== createdAt) room.changes.push({ id, at: updatedAt });
    }
  } finally {
    await cursor.close();
  }
  return { rooms, unindexed };
}

async function saveIndex(db: Db): Promise<void> {
  const index = db.collection<{ _id: string }>('message_index');
  await index.replaceOne({ _id: 'state' }, { _id: 'state', format: FORMAT, clean: false }, { upsert: true });
  const { rooms, unindexed } = await readRooms(db);
  await index.deleteMany({ _id: { $ne: 'state' } });
  let count = unindexed;
  let newest: string | null = null;
  for (const [roomId, room] of rooms) {
    room.entries.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    room.changes.sort((a, b) => a.at - b.at);
    const dropped = room.changes.length - CHANGES_KEPT;
    const ids = room.entries.map((entry) => entry[0]);
    const senders = room.entries.map((entry) => entry[1]);
    const chunks = Math.ceil(ids.length / CHUNK);
    for (let n = 0; n < chunks; n += 1) {
      const start = n * CHUNK;
      const _id = `room:${roomId}:${n}`;
      await index.replaceOne({ _id }, { _id, ids: packIds(ids.slice(start, start + CHUNK)), senders: packIds(senders.slice(start, start + CHUNK)) }, { upsert: true });
    }
    const _id = `room:${roomId}`;
    await index.replaceOne(
      { _id },
      {
        _id,
        roomId: new ObjectId(roomId),
        count: ids.length,
        chunks,
        deleted: packIds(room.deleted),
        files: packIds(room.files),
        changes: packChanges(dropped > 0 ? room.changes.slice(dropped) : room.changes),
        forgottenUpTo: dropped > 0 ? new Date(room.changes[dropped - 1]!.at) : null,
      },
      { upsert: true },
    );
    count += ids.length;
    const last = ids.at(-1);
    if (last !== undefined && (newest === null || last > newest)) newest = last;
  }
  await index.replaceOne(
    { _id: 'state' },
    { _id: 'state', format: FORMAT, clean: true, messages: count, newestId: newest ? new ObjectId(newest) : null, savedAt: new Date() },
    { upsert: true },
  );
}

export const migration: Migration = {
  id: '0002-message-index',
  description: 'build the message index on the embedded database (history and unread counts stop scanning every message)',
  async up(db: Db) {
    if ((await detectEngine(db)) !== 'ferretdb') {
      await db.collection<{ _id: string }>('message_index').deleteOne({ _id: 'state' });
      return;
    }
    await saveIndex(db);
  },
};
