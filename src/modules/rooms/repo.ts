import type { Collection, Db, Filter, ObjectId } from 'mongodb';
import { isDuplicateKey } from '../../db/errors.js';
import { KeyedLock } from '../../db/keyed-lock.js';
import { escapeRegex } from '../../db/regex.js';
import { updateEachById } from '../../db/update-each.js';
import { Conflict } from '../../errors.js';
import type { RoomDocument } from './types.js';

/** The `rooms` collection. */
export class RoomsRepo {
  private readonly rooms: Collection<RoomDocument>;
  // Updates of one room are queued: FerretDB loses concurrent updates of a document (KeyedLock).
  private readonly writes = new KeyedLock();

  constructor(db: Db) {
    this.rooms = db.collection<RoomDocument>('rooms');
  }

  /** Stores a new room; Conflict when its directKey is taken. */
  async insert(room: RoomDocument): Promise<void> {
    try {
      await this.rooms.insertOne(room);
    } catch (error) {
      if (isDuplicateKey(error)) throw new Conflict('That room already exists');
      throw error;
    }
  }

  /** The direct room with this key, created from `room` when there is none; says which happened. */
  async findOrCreateDirect(room: RoomDocument): Promise<{ room: RoomDocument; created: boolean }> {
    for (let attempt = 0; ; attempt += 1) {
      try {
        const { directKey, ...rest } = room;
        const result = await this.rooms.findOneAndUpdate(
          { directKey },
          { $setOnInsert: rest },
          { upsert: true, returnDocument: 'after', includeResultMetadata: true },
        );
        return { room: result.value!, created: result.lastErrorObject?.updatedExisting === false };
      } catch (error) {
        // Two first contacts at once: both upserts miss, one insert wins the unique index; read it.
        if (!isDuplicateKey(error) || attempt > 0) throw error;
      }
    }
  }

  /** One room by id, or null. */
  findById(id: ObjectId): Promise<RoomDocument | null> {
    return this.rooms.findOne({ _id: id });
  }

  /** The kind of each of these rooms (type and direct pair), in one query. */
  kinds(ids: ObjectId[]): Promise<Pick<RoomDocument, '_id' | 'type' | 'directKey'>[]> {
    return this.rooms.find({ _id: { $in: ids } }, { projection: { _id: 1, type: 1, directKey: 1 } }).toArray();
  }

  /** Every room's kind, streamed (the membership cache's start-up read). */
  allKinds(): AsyncIterable<Pick<RoomDocument, '_id' | 'type' | 'directKey'>> {
    return this.rooms.find({}, { projection: { _id: 1, type: 1, directKey: 1 } });
  }

  /** The given rooms, in no particular order. */
  findByIds(ids: ObjectId[]): Promise<RoomDocument[]> {
    return this.rooms.find({ _id: { $in: ids } }).toArray();
  }

  /** A page of public and private rooms (never direct ones) whose name starts with `prefix`, any case, in name order. */
  async pageByName(query: { prefix?: string; skip: number; limit: number }): Promise<{ rooms: RoomDocument[]; hasMore: boolean }> {
    const filter: Filter<RoomDocument> = { type: { $in: ['public', 'private'] } };
    if (query.prefix) filter.name = { $regex: `^${escapeRegex(query.prefix)}`, $options: 'i' };
    const rooms = await this.rooms.find(filter).sort({ name: 1, _id: 1 }).skip(query.skip).limit(query.limit + 1).toArray();
    return { rooms: rooms.slice(0, query.limit), hasMore: rooms.length > query.limit };
  }

  /** Every public room, in no particular order. */
  findPublic(): Promise<RoomDocument[]> {
    return this.rooms.find({ type: 'public' }).toArray();
  }

  /** How many public rooms exist. */
  countPublic(): Promise<number> {
    return this.rooms.countDocuments({ type: 'public' });
  }

  /** Adjusts the stored member count after memberships were added or removed. */
  addToMemberCount(id: ObjectId, delta: number): Promise<RoomDocument | null> {
    return this.writes.run(id.toHexString(), () =>
      this.rooms.findOneAndUpdate({ _id: id }, { $inc: { memberCount: delta }, $set: { updatedAt: new Date() } }, { returnDocument: 'after' }),
    );
  }

  /** Sets the room's own retention (null: the global setting); the room as it is now, or null when it is gone. */
  setRetention(id: ObjectId, retentionDays: number | null): Promise<RoomDocument | null> {
    return this.writes.run(id.toHexString(), () =>
      this.rooms.findOneAndUpdate({ _id: id }, { $set: { retentionDays, updatedAt: new Date() } }, { returnDocument: 'after' }),
    );
  }

  /** Moves lastMessageAt of several rooms forward to `at` (or each room's own time), a few round trips. */
  touchActivity(ids: ObjectId[], at: Date | ((id: ObjectId) => Date)): Promise<void> {
    const atOf = typeof at === 'function' ? at : () => at;
    return updateEachById(this.rooms, this.writes, ids, (id) => ({ $max: { lastMessageAt: atOf(id) } }));
  }

  /** Rooms that set their own retention, with it. */
  async withOwnRetention(): Promise<{ _id: ObjectId; retentionDays: number }[]> {
    const rooms = await this.rooms.find({ retentionDays: { $exists: true, $ne: null } }, { projection: { _id: 1, retentionDays: 1 } }).toArray();
    return rooms.filter((room): room is RoomDocument & { retentionDays: number } => typeof room.retentionDays === 'number');
  }

  /** Removes a room whose creation could not be completed. */
  async deleteById(id: ObjectId): Promise<void> {
    await this.rooms.deleteOne({ _id: id });
  }
}
