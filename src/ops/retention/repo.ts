import { ObjectId, type Db, type Filter } from 'mongodb';

// Retention deletes what the messages and files modules own. It lives here until those modules
// offer the deletes themselves; it relies only on the fields docs/data-model.md promises.

export interface RoomRetention {
  roomId: unknown;
  retentionDays: number;
}

export interface ExpiredMessage {
  id: unknown;
  roomId: unknown;
  fileId: unknown;
}

export interface StoredFile {
  id: unknown;
  storedName: string;
}

interface MessageDoc {
  _id: ObjectId;
  roomId: unknown;
  createdAt: Date;
  fileAttachment?: { fileId?: unknown };
}

interface RoomDoc {
  _id: unknown;
  retentionDays?: number | null;
}

type AnyId = ObjectId | string;

interface FileDoc {
  _id: AnyId;
  storedName: string;
}

/** The forms an id may be stored in: an ObjectId, or its hex string. */
function idForms(id: unknown): AnyId[] {
  if (id instanceof ObjectId) return [id, id.toHexString()];
  if (typeof id === 'string' && ObjectId.isValid(id) && /^[0-9a-f]{24}$/i.test(id)) return [id, new ObjectId(id)];
  return [id as AnyId];
}

/** The queries of the message retention sweep. */
export class RetentionRepo {
  constructor(private readonly db: Db) {}

  /** Rooms that set their own retention (0 keeps their messages forever). */
  async roomsWithOwnRetention(): Promise<RoomRetention[]> {
    const rooms = await this.db
      .collection<RoomDoc>('rooms')
      .find({ retentionDays: { $exists: true, $ne: null } }, { projection: { _id: 1, retentionDays: 1 } })
      .toArray();
    return rooms.filter((room) => typeof room.retentionDays === 'number').map((room) => ({ roomId: room._id, retentionDays: room.retentionDays as number }));
  }

  /** Up to `limit` messages of one room created before `cutoff`. */
  async expiredInRoom(roomId: unknown, cutoff: Date, limit: number): Promise<ExpiredMessage[]> {
    return this.expired({ roomId, createdAt: { $lt: cutoff } }, limit);
  }

  /** Up to `limit` messages created before `cutoff` in any room except `exempt`. */
  async expiredOutside(exempt: unknown[], cutoff: Date, limit: number): Promise<ExpiredMessage[]> {
    return this.expired({ roomId: { $nin: exempt }, createdAt: { $lt: cutoff } }, limit);
  }

  private async expired(filter: Filter<MessageDoc>, limit: number): Promise<ExpiredMessage[]> {
    const messages = await this.db.collection<MessageDoc>('messages').find(filter, { projection: { _id: 1, roomId: 1, 'fileAttachment.fileId': 1 }, limit }).toArray();
    return messages.map((message) => ({ id: message._id, roomId: message.roomId, fileId: message.fileAttachment?.fileId }));
  }

  async deleteMessages(ids: unknown[]): Promise<number> {
    const result = await this.db.collection<MessageDoc>('messages').deleteMany({ _id: { $in: ids as ObjectId[] } });
    return result.deletedCount;
  }

  /** Whether any message still carries the file. */
  async fileReferenced(fileId: unknown): Promise<boolean> {
    return (await this.db.collection<MessageDoc>('messages').countDocuments({ 'fileAttachment.fileId': { $in: idForms(fileId) } }, { limit: 1 })) > 0;
  }

  async findFile(fileId: unknown): Promise<StoredFile | undefined> {
    const file = await this.db.collection<FileDoc>('files').findOne({ _id: { $in: idForms(fileId) } }, { projection: { _id: 1, storedName: 1 } });
    return file ? { id: file._id, storedName: file.storedName } : undefined;
  }

  async deleteFile(id: unknown): Promise<void> {
    await this.db.collection<FileDoc>('files').deleteOne({ _id: id as AnyId });
  }
}
