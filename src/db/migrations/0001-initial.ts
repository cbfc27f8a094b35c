import type { Db, IndexDescription } from 'mongodb';
import type { Migration } from './types.js';

// Collections and their indexes. Only unique and compound indexes: FerretDB 1.24 has no TTL,
// partial or collation indexes, so expiry is a cron sweep and case-insensitivity is a lower-cased
// copy of the field. Unique indexes cover fields every document has (a missing field counts as
// null, and two nulls would collide).
const collections: Record<string, IndexDescription[]> = {
  users: [
    { key: { usernameLower: 1 }, name: 'username_unique', unique: true },
    { key: { email: 1 }, name: 'email_unique', unique: true },
    { key: { createdAt: -1 }, name: 'created' },
    // Hubs looked up users whose sessions another process revoked by this field; they now read
    // the session_revocations log, and the index stays because migrations are history.
    { key: { sessionsValidAfter: -1 }, name: 'sessions_valid_after' },
  ],
  // OAuth identities keyed by provider and subject: `_id` is `<provider>:<subject>`.
  identities: [{ key: { userId: 1 }, name: 'user' }],
  // Refresh-token families, revoked access tokens and password-reset tokens, each with expiresAt.
  tokens: [
    { key: { kind: 1, family: 1 }, name: 'kind_family' },
    { key: { userId: 1, kind: 1 }, name: 'user_kind' },
    { key: { expiresAt: 1 }, name: 'expires' },
  ],
  rooms: [
    { key: { type: 1, lastMessageAt: -1 }, name: 'type_recent' },
    // Every room has a directKey (direct rooms: the sorted member pair), so the unique index holds.
    { key: { directKey: 1 }, name: 'direct_key_unique', unique: true },
  ],
  memberships: [
    { key: { roomId: 1, userId: 1 }, name: 'room_user_unique', unique: true },
    { key: { userId: 1, roomId: 1 }, name: 'user_room' },
    { key: { roomId: 1, joinedAt: 1 }, name: 'room_joined' },
  ],
  messages: [
    { key: { roomId: 1, _id: -1 }, name: 'room_history' },
    { key: { roomId: 1, updatedAt: 1 }, name: 'room_changes' },
    { key: { senderId: 1, clientMsgId: 1 }, name: 'sender_client_msg_unique', unique: true },
    // Who may download a file: the rooms where a message still shares it.
    { key: { 'fileAttachment.fileId': 1 }, name: 'attachment' },
  ],
  files: [{ key: { ownerId: 1, createdAt: -1 }, name: 'owner' }],
  calls: [
    { key: { callerId: 1, startedAt: -1 }, name: 'caller_recent' },
    { key: { calleeId: 1, startedAt: -1 }, name: 'callee_recent' },
    { key: { status: 1 }, name: 'status' },
  ],
};

export const migration: Migration = {
  id: '0001-initial',
  description: 'create collections and indexes',
  async up(db: Db) {
    const existing = new Set((await db.listCollections({}, { nameOnly: true }).toArray()).map((c) => c.name));
    for (const [name, indexes] of Object.entries(collections)) {
      if (!existing.has(name)) await db.createCollection(name);
      if (indexes.length > 0) await db.collection(name).createIndexes(indexes);
    }
  },
};
