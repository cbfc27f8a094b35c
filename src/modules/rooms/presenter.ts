import type { MembershipDocument, RoomDocument } from './types.js';

/** What members (and, for public rooms, anyone) see of a room. */
export function presentRoom(room: RoomDocument) {
  return {
    _id: room._id.toHexString(),
    name: room.name,
    type: room.type,
    description: room.description,
    createdBy: room.createdBy.toHexString(),
    memberCount: room.memberCount,
    // Direct rooms are named by their two members.
    participants: room.type === 'direct' ? room.directKey.split(':') : undefined,
    lastMessageAt: room.lastMessageAt,
    retentionDays: room.retentionDays ?? null,
    createdAt: room.createdAt,
    updatedAt: room.updatedAt,
  };
}

/** A room as its member sees it: their role and read marker. */
export function presentMemberRoom(room: RoomDocument, membership: MembershipDocument) {
  return {
    ...presentRoom(room),
    role: membership.role,
    lastReadMessageId: membership.lastReadMessageId?.toHexString() ?? null,
  };
}

export type PresentedRoom = ReturnType<typeof presentRoom>;
