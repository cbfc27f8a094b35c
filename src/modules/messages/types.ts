import type { ObjectId } from 'mongodb';

export type MessageType = 'text' | 'image' | 'file' | 'voice' | 'video';

export interface FileAttachment {
  fileId: ObjectId;
  fileName: string;
  fileSize: number;
  fileUrl: string;
  mimeType: string;
}

export interface ReadReceipt {
  userId: ObjectId;
  readAt: Date;
}

export interface Reaction {
  emoji: string;
  userId: ObjectId;
  createdAt: Date;
}

export interface EditRecord {
  content: string;
  editedAt: Date;
}

/** A message as stored (docs/data-model.md). `_id` is assigned when the message is accepted, so ids follow acceptance order. */
export interface MessageDocument {
  _id: ObjectId;
  roomId: ObjectId;
  senderId: ObjectId;
  content: string;
  messageType: MessageType;
  encrypted: boolean;
  fileAttachment?: FileAttachment;
  readBy: ReadReceipt[];
  reactions: Reaction[];
  editedAt?: Date;
  editHistory: EditRecord[];
  isDeleted: boolean;
  deletedAt?: Date;
  /** The client's idempotency key, or the message's own id when the client sent none; unique per sender. */
  clientMsgId: string;
  createdAt: Date;
  updatedAt: Date;
}
