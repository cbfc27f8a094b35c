import type { ObjectId } from 'mongodb';

export type CallType = 'audio' | 'video';
export type CallStatus = 'ringing' | 'active' | 'ended' | 'missed' | 'rejected' | 'busy';

/**
 * Why a call ended: `hangup` (a participant ended an answered call), `cancelled` (the caller gave
 * up before an answer), `rejected`, `timeout` (nobody answered), `unavailable` (the callee had no
 * open connection), `busy`, `disconnected` (a participant did not come back within the grace
 * period), `server_shutdown` (chatd stopped cleanly), `server_restart` (chatd found the call still
 * open when it started, after a crash).
 */
export type CallEndReason =
  | 'hangup'
  | 'cancelled'
  | 'rejected'
  | 'timeout'
  | 'unavailable'
  | 'busy'
  | 'disconnected'
  | 'server_shutdown'
  | 'server_restart';

/** A call document as stored (docs/data-model.md). */
export interface CallDocument {
  _id: ObjectId;
  roomId: ObjectId;
  callerId: ObjectId;
  calleeId: ObjectId;
  callType: CallType;
  status: CallStatus;
  startedAt: Date;
  answeredAt?: Date;
  endedAt?: Date;
  endReason?: CallEndReason;
  /** Seconds between answer and end; 0 for calls never answered; absent when unknown (crash). */
  duration?: number;
}
