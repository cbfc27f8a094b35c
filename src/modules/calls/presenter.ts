import type { CallDocument } from './types.js';

/** A call as its participants see it in their history; `direction` is from the viewer's side. */
export function presentCall(call: CallDocument, viewerId: string) {
  const callerId = call.callerId.toHexString();
  return {
    _id: call._id.toHexString(),
    roomId: call.roomId.toHexString(),
    callerId,
    calleeId: call.calleeId.toHexString(),
    direction: callerId === viewerId ? ('outgoing' as const) : ('incoming' as const),
    callType: call.callType,
    status: call.status,
    startedAt: call.startedAt,
    answeredAt: call.answeredAt ?? null,
    endedAt: call.endedAt ?? null,
    endReason: call.endReason ?? null,
    duration: call.duration ?? null,
  };
}

export type PresentedCall = ReturnType<typeof presentCall>;
