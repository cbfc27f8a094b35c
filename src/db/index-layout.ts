import type { Db, IndexDescription } from 'mongodb';
import type { DatabaseEngine } from './engine.js';

/**
 * The indexes chatd wants today, by collection. Migration 0001 created them; this is the layout
 * `fitIndexes` keeps, after migrations and after a restore (a backup carries the indexes of the
 * engine it was taken on).
 */
export const indexLayout: Readonly<Record<string, readonly IndexDescription[]>> = {
  users: [
    { key: { usernameLower: 1 }, name: 'username_unique', unique: true },
    { key: { email: 1 }, name: 'email_unique', unique: true },
    { key: { createdAt: -1 }, name: 'created' },
    { key: { sessionsValidAfter: -1 }, name: 'sessions_valid_after' },
  ],
  identities: [{ key: { userId: 1 }, name: 'user' }],
  tokens: [
    { key: { kind: 1, family: 1 }, name: 'kind_family' },
    { key: { userId: 1, kind: 1 }, name: 'user_kind' },
    { key: { expiresAt: 1 }, name: 'expires' },
  ],
  rooms: [
    { key: { type: 1, lastMessageAt: -1 }, name: 'type_recent' },
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
    { key: { 'fileAttachment.fileId': 1 }, name: 'attachment' },
  ],
  files: [{ key: { ownerId: 1, createdAt: -1 }, name: 'owner' }],
  calls: [
    { key: { callerId: 1, startedAt: -1 }, name: 'caller_recent' },
    { key: { calleeId: 1, startedAt: -1 }, name: 'callee_recent' },
    { key: { status: 1 }, name: 'status' },
  ],
};

/**
 * Whether an index belongs on this engine. FerretDB 1.24 answers every query but `{_id: value}`
 * by reading the whole collection, so on it an index only earns its cost by enforcing
 * uniqueness; every other one is work on each insert that no read ever uses (three per stored
 * message). chatd's own message index (modules/messages/timeline.ts) answers those reads there.
 */
export function belongsOn(engine: DatabaseEngine, index: Pick<IndexDescription, 'unique'>): boolean {
  return engine === 'mongodb' || index.unique === true;
}

/** Gives the database the layout its engine wants: creates what is missing, drops what the engine never reads. */
export async function fitIndexes(db: Db, engine: DatabaseEngine): Promise<void> {
  const existing = new Set((await db.listCollections({}, { nameOnly: true }).toArray()).map((c) => c.name));
  for (const [name, layout] of Object.entries(indexLayout)) {
    if (!existing.has(name)) await db.createCollection(name);
    const collection = db.collection(name);
    const present = new Set((await collection.listIndexes().toArray()).map((index) => String(index.name)));
    // Only the missing ones: FerretDB 1.24 panics on a createIndexes that repeats two existing indexes.
    const missing = layout.filter((index) => belongsOn(engine, index) && !present.has(index.name!));
    if (missing.length > 0) await collection.createIndexes([...missing]);
    for (const index of layout) {
      if (!belongsOn(engine, index) && present.has(index.name!)) await collection.dropIndex(index.name!);
    }
  }
}
