import type { MessageDocument, Reaction } from './types.js';

export function presentReactions(reactions: Reaction[]) {
  return reactions.map((r) => ({ emoji: r.emoji, userId: r.userId.toHexString(), createdAt: r.createdAt }));
}

/** A message as room members see it; a deleted one keeps its place but loses its content, attachment, reactions and edits. */
export function presentMessage(doc: MessageDocument) {
  const deleted = doc.isDeleted;
  const file = doc.fileAttachment;
  return {
    _id: doc._id.toHexString(),
    roomId: doc.roomId.toHexString(),
    senderId: doc.senderId.toHexString(),
    content: deleted ? null : doc.content,
    messageType: doc.messageType,
    encrypted: doc.encrypted,
    fileAttachment: deleted || !file ? null : { fileId: file.fileId.toHexString(), fileName: file.fileName, fileSize: file.fileSize, fileUrl: file.fileUrl, mimeType: file.mimeType },
    readBy: doc.readBy.map((r) => ({ userId: r.userId.toHexString(), readAt: r.readAt })),
    reactions: deleted ? [] : presentReactions(doc.reactions),
    editedAt: doc.editedAt ?? null,
    editHistory: deleted ? [] : doc.editHistory,
    isDeleted: deleted,
    deletedAt: doc.deletedAt ?? null,
    clientMsgId: doc.clientMsgId,
    createdAt: doc.createdAt,
    updatedAt: doc.updatedAt,
  };
}

export type PresentedMessage = ReturnType<typeof presentMessage>;

/** A message serialised once, for the room's `new_message` broadcast and the sender's acknowledgement alike. */
export function messageJson(doc: MessageDocument): string {
  return JSON.stringify(presentMessage(doc));
}
