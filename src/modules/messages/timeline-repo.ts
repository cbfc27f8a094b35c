import { Binary, ObjectId, type Collection, type Db } from 'mongodb';
import type { ChangeEntry, RoomSnapshot } from './room-index.js';

// The `message_index` collection: the message index (room-index.ts) saved when `chatd serve`
// stops, so the next start reads a few documents instead of every message. Documents are
// addressed by `_id` only, the one lookup FerretDB does not answer by scanning:
//   {_id: 'state', format, clean, messages?, newestId?, savedAt?}
//   {_id: 'room:<roomId>', roomId, count, chunks, deleted, files, changes, forgottenUpTo}
//   {_id: 'room:<roomId>:<n>', ids, senders}   (ids and senders of positions n·CHUNK …)
// Ids are packed 12 bytes each into binary fields: FerretDB decodes an array of ObjectIds element
// by element, a binary field in one piece.

/** Bump when the saved layout changes: an index saved in another format is rebuilt (migration 0002 writes format 1). */
export const INDEX_FORMAT = 1;
const CHUNK = 8192;
const ID_BYTES = 12;

interface StateDocument {
  _id: 'state';
  format: number;
  /** True only between a complete save and the next start: otherwise the saved index may lag the messages. */
  clean: boolean;
  /** Messages the saved index holds, to compare with the messages collection. */
  messages?: number;
  newestId?: ObjectId | null;
  savedAt?: Date;
}

interface RoomDocument {
  _id: string;
  roomId: ObjectId;
  count: number;
  chunks: number;
  deleted: Binary;
  files: Binary;
  changes: Binary;
  forgottenUpTo: Date | null;
}

interface ChunkDocument {
  _id: string;
  ids: Binary;
  senders: Binary;
}

type IndexDocument = StateDocument | RoomDocument | ChunkDocument;

export interface IndexState {
  format: number;
  clean: boolean;
  messages: number | undefined;
}

export interface SavedIndex {
  rooms: RoomSnapshot[];
  /** Chunk documents each room has, so a later save removes those no longer needed. */
  chunks: Map<string, number>;
}

function packIds(ids: readonly string[]): Binary {
  const bytes = Buffer.alloc(ids.length * ID_BYTES);
  for (let i = 0; i < ids.length; i += 1) bytes.write(ids[i]!, i * ID_BYTES, ID_BYTES, 'hex');
  return new Binary(bytes);
}

function bytesOf(binary: Binary): Buffer {
  const data = binary.buffer.subarray(0, binary.length());
  return Buffer.from(data.buffer, data.byteOffset, data.length);
}

function unpackIds(binary: Binary): string[] {
  const bytes = bytesOf(binary);
  const ids = new Array<string>(bytes.length / ID_BYTES);
  for (let i = 0; i < ids.length; i += 1) ids[i] = bytes.toString('hex', i * ID_BYTES, (i + 1) * ID_BYTES);
  return ids;
}

function packChanges(changes: readonly ChangeEntry[]): Binary {
  const bytes = Buffer.alloc(changes.length * (ID_BYTES + 8));
  changes.forEach((change, i) => {
    bytes.write(change.id, i * (ID_BYTES + 8), ID_BYTES, 'hex');
    bytes.writeDoubleLE(change.at, i * (ID_BYTES + 8) + ID_BYTES);
  });
  return new Binary(bytes);
}

function unpackChanges(binary: Binary): ChangeEntry[] {
  const bytes = bytesOf(binary);
  const changes: ChangeEntry[] = [];
  for (let offset = 0; offset < bytes.length; offset += ID_BYTES + 8) {
    changes.push({ id: bytes.toString('hex', offset, offset + ID_BYTES), at: bytes.readDoubleLE(offset + ID_BYTES) });
  }
  return changes;
}

const roomKey = (roomId: string) => `room:${roomId}`;
const chunkKey = (roomId: string, n: number) => `room:${roomId}:${n}`;

/** The saved message index (`message_index`). */
export class TimelineRepo {
  private readonly index: Collection<IndexDocument>;

  constructor(db: Db) {
    this.index = db.collection<IndexDocument>('message_index');
  }

  /** The saved index's state, or null when none was ever saved. */
  async state(): Promise<IndexState | null> {
    const state = (await this.index.findOne({ _id: 'state' })) as StateDocument | null;
    return state ? { format: state.format, clean: state.clean, messages: state.messages } : null;
  }

  /** Marks the saved index as lagging from now on: a process is about to change messages without saving it. */
  async open(): Promise<void> {
    await this.index.replaceOne({ _id: 'state' }, { _id: 'state', format: INDEX_FORMAT, clean: false }, { upsert: true });
  }

  /** Forgets the saved state, so whatever index is saved gets rebuilt before use. */
  async forget(): Promise<void> {
    await this.index.deleteOne({ _id: 'state' });
  }

  /** Every saved room, or null when the saved documents do not fit together. */
  async load(): Promise<SavedIndex | null> {
    const metas = new Map<string, RoomDocument>();
    const chunks = new Map<string, ChunkDocument>();
    for await (const document of this.index.find({})) {
      if (document._id === 'state') continue;
      if ('count' in document) metas.set(document.roomId.toHexString(), document);
      else if ('ids' in document) chunks.set(document._id, document);
    }
    const rooms: RoomSnapshot[] = [];
    const counts = new Map<string, number>();
    for (const [roomId, meta] of metas) {
      const ids: string[] = [];
      const senders: string[] = [];
      for (let n = 0; n < meta.chunks; n += 1) {
        const chunk = chunks.get(chunkKey(roomId, n));
        if (!chunk) return null;
        ids.push(...unpackIds(chunk.ids));
        senders.push(...unpackIds(chunk.senders));
      }
      if (ids.length !== meta.count || senders.length !== meta.count) return null;
      for (let i = 1; i < ids.length; i += 1) if (ids[i - 1]! >= ids[i]!) return null;
      const fileBytes = unpackIds(meta.files);
      const files: [string, string][] = [];
      for (let i = 0; i + 1 < fileBytes.length; i += 2) files.push([fileBytes[i]!, fileBytes[i + 1]!]);
      rooms.push({
        roomId,
        ids,
        senders,
        deleted: unpackIds(meta.deleted),
        files,
        changes: unpackChanges(meta.changes),
        forgottenUpTo: meta.forgottenUpTo?.getTime() ?? 0,
      });
      counts.set(roomId, meta.chunks);
    }
    return { rooms, chunks: counts };
  }

  /** Removes every saved room (before saving an index built anew). */
  async clearRooms(): Promise<void> {
    await this.index.deleteMany({ _id: { $ne: 'state' } });
  }

  /** Saves one room, replacing what was saved of it (`previousChunks` chunk documents); returns its chunk count. */
  async saveRoom(room: RoomSnapshot, previousChunks: number): Promise<number> {
    const chunks = Math.ceil(room.ids.length / CHUNK);
    for (let n = 0; n < chunks; n += 1) {
      const start = n * CHUNK;
      await this.index.replaceOne(
        { _id: chunkKey(room.roomId, n) },
        { _id: chunkKey(room.roomId, n), ids: packIds(room.ids.slice(start, start + CHUNK)), senders: packIds(room.senders.slice(start, start + CHUNK)) },
        { upsert: true },
      );
    }
    const meta: RoomDocument = {
      _id: roomKey(room.roomId),
      roomId: new ObjectId(room.roomId),
      count: room.ids.length,
      chunks,
      deleted: packIds(room.deleted),
      files: packIds(room.files.flat()),
      changes: packChanges(room.changes),
      forgottenUpTo: room.forgottenUpTo > 0 ? new Date(room.forgottenUpTo) : null,
    };
    await this.index.replaceOne({ _id: meta._id }, meta, { upsert: true });
    for (let n = chunks; n < previousChunks; n += 1) await this.index.deleteOne({ _id: chunkKey(room.roomId, n) });
    return chunks;
  }

  /** Marks the saved index complete: it holds `messages` messages, the newest being `newestId`. */
  async close(messages: number, newestId: string | null): Promise<void> {
    const state: StateDocument = { _id: 'state', format: INDEX_FORMAT, clean: true, messages, newestId: newestId ? new ObjectId(newestId) : null, savedAt: new Date() };
    await this.index.replaceOne({ _id: 'state' }, state, { upsert: true });
  }
}
