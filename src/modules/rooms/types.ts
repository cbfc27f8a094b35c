import type { ObjectId } from 'mongodb';

export type RoomType = 'public' | 'private' | 'direct';
export type MemberRole = 'owner' | 'admin' | 'member';

/** A room as stored (docs/data-model.md). */
export interface RoomDocument {
  _id: ObjectId;
  name: string;
  type: RoomType;
  description: string;
  createdBy: ObjectId;
  memberCount: number;
  /** `<lowerId>:<higherId>` for direct rooms, `room:<_id>` for the others, so the unique index holds. */
  directKey: string;
  /** Moves after messages are stored (best effort, coalesced); sorts room lists by activity. */
  lastMessageAt: Date;
  /** Days its messages are kept, overriding RETENTION_DAYS (0: forever); absent or null: the global setting. */
  retentionDays?: number | null;
  createdAt: Date;
  updatedAt: Date;
}

/** One user's membership of one room: a document of its own, so rooms can have any number of members. */
export interface MembershipDocument {
  _id: ObjectId;
  roomId: ObjectId;
  userId: ObjectId;
  role: MemberRole;
  joinedAt: Date;
  /** The newest message the member has read; unread counts are the messages after it. */
  lastReadMessageId: ObjectId | null;
  lastReadAt: Date | null;
}
