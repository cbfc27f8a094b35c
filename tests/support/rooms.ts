import { ObjectId, type Db } from 'mongodb';

/**
 * Inserts a private room and its memberships straight into the database (docs/data-model.md),
 * for tests of modules that need users to share a room but not the rooms API.
 */
export async function createRoom(db: Db, memberIds: ObjectId[], overrides: { name?: string; type?: 'public' | 'private' } = {}): Promise<{ _id: ObjectId; id: string }> {
  const now = new Date();
  const _id = new ObjectId();
  await db.collection('rooms').insertOne({
    _id,
    name: overrides.name ?? `room ${_id.toHexString().slice(-6)}`,
    type: overrides.type ?? 'private',
    description: '',
    createdBy: memberIds[0],
    memberCount: memberIds.length,
    directKey: `room:${_id.toHexString()}`,
    lastMessageAt: now,
    createdAt: now,
    updatedAt: now,
  });
  if (memberIds.length > 0) {
    await db.collection('memberships').insertMany(
      memberIds.map((userId, index) => ({ _id: new ObjectId(), roomId: _id, userId, role: index === 0 ? 'owner' : 'member', joinedAt: now })),
    );
  }
  return { _id, id: _id.toHexString() };
}
