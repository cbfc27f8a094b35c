import { createHmac } from 'node:crypto';
import { ObjectId } from 'mongodb';
import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import { Conflict, Forbidden, Invalid, NotFound, rateLimitedBy, Unauthorized } from '../../errors.js';
import type { Logger } from '../../logger.js';
import type { RealtimePublisher } from '../../realtime/publisher.js';
import { parseObjectId, type UsersRepo } from '../users/repo.js';
import { presentCall } from './presenter.js';
import type { CallsRepo } from './repo.js';
import type { CallUserInput, IceCandidate, ListCallsInput, SessionDescription } from './schemas.js';
import type { CallDocument, CallEndReason, CallStatus, CallType } from './types.js';

/** What calls ask of rooms (RoomAccess answers it): both in the room, neither blocking the other; Forbidden otherwise. */
export interface CallAccess {
  mayCall(roomId: string, callerId: string, calleeId: string): Promise<void>;
}

/** One hub connection of a user. A call is carried by one connection per side, not by every device. */
export interface CallParty {
  userId: string;
  connId: number;
}

export interface CallsSettings {
  ringTimeoutSeconds: number;
  reconnectGraceSeconds: number;
  /** Call events one connection may send per 10 seconds. */
  signalingLimit: number;
  stunUrls: string[];
  turnUrls: string[];
  turnSecret: string | undefined;
  turnTtlSeconds: number;
}

export interface CallsServiceDeps {
  calls: CallsRepo;
  users: UsersRepo;
  access: CallAccess;
  realtime: RealtimePublisher;
  logger: Logger;
  settings: CallsSettings;
}

/** A hub event and its payload: what the caller of a service method is answered with. */
export interface CallReply {
  event: string;
  data: unknown;
}

export type SignalKind = 'webrtc_offer' | 'webrtc_answer' | 'ice_candidate';

export interface IceServer {
  urls: string[];
  username?: string;
  credential?: string;
}

interface Side {
  userId: string;
  /** The connection carrying the call; undefined for a callee still ringing, or while in the grace period. */
  connId: number | undefined;
  /** Running while this side has dropped and may still come back. */
  grace: NodeJS.Timeout | undefined;
}

interface LiveCall {
  id: string;
  roomId: string;
  callType: CallType;
  callerName: string;
  caller: Side;
  callee: Side;
  status: 'ringing' | 'active';
  answeredAt: Date | undefined;
  ringTimer: NodeJS.Timeout | undefined;
  /** The call's writes, in order: a hang-up stored before the answer it follows would be undone by it. */
  writes: Promise<void>;
}

const signalField: Record<SignalKind, 'offer' | 'answer' | 'candidate'> = {
  webrtc_offer: 'offer',
  webrtc_answer: 'answer',
  ice_candidate: 'candidate',
};

function userObjectId(userId: string): ObjectId {
  const id = parseObjectId(userId);
  if (!id) throw new Unauthorized('Your token does not name a user');
  return id;
}

/**
 * One-to-one calls: the ringing, answering and ending of a call, the relay of its WebRTC
 * signaling, and its record. Calls in progress live in this process (chatd runs on one box) and
 * in the `calls` collection, which a restart reconciles.
 */
export class CallsService {
  private readonly live = new Map<string, LiveCall>();
  /** The call each user is in; a user is in at most one. */
  private readonly byUser = new Map<string, LiveCall>();
  private readonly inflight = new Set<Promise<void>>();
  private readonly limiter: RateLimiterMemory;
  private readonly log: Logger;
  /** Calls started before this instant belong to an earlier run of chatd. */
  private readonly bootedAt = new Date();

  constructor(private readonly deps: CallsServiceDeps) {
    this.log = deps.logger.child({ component: 'calls' });
    this.limiter = new RateLimiterMemory({ points: deps.settings.signalingLimit, duration: 10 });
  }

  /** `call_user`: rings every connection of the callee, or records the call as busy or missed. */
  async callUser(party: CallParty, input: CallUserInput): Promise<CallReply> {
    await this.throttle(party);
    if (input.targetUserId === party.userId) throw new Invalid('You cannot call yourself');
    const callerId = userObjectId(party.userId);
    const calleeId = new ObjectId(input.targetUserId);
    const roomId = new ObjectId(input.roomId);
    const users = await this.deps.users.findByIds([callerId, calleeId]);
    const caller = users.find((user) => user._id.equals(callerId));
    const callee = users.find((user) => user._id.equals(calleeId));
    if (!caller || caller.disabled) throw new Unauthorized('Your account is not active');
    if (!callee || callee.disabled) throw new NotFound('User not found');
    await this.deps.access.mayCall(input.roomId, party.userId, input.targetUserId);
    // From here to the reservation below nothing awaits, so two calls cannot both claim a user.
    if (!this.deps.realtime.connectionIds(party.userId).includes(party.connId)) throw new Conflict('Your connection closed');
    if (this.byUser.has(party.userId)) throw new Conflict('You are already in a call; end it first');

    const now = new Date();
    const record: CallDocument = { _id: new ObjectId(), roomId, callerId, calleeId, callType: input.callType, status: 'ringing', startedAt: now };
    const ref = { callId: record._id.toHexString(), targetUserId: input.targetUserId, roomId: input.roomId, callType: input.callType };
    if (this.byUser.has(input.targetUserId)) {
      await this.deps.calls.insert({ ...record, status: 'busy', endedAt: now, endReason: 'busy', duration: 0 });
      return { event: 'call_busy', data: ref };
    }
    if (!this.deps.realtime.isOnline(input.targetUserId)) {
      await this.deps.calls.insert({ ...record, status: 'missed', endedAt: now, endReason: 'unavailable', duration: 0 });
      return { event: 'call_unavailable', data: ref };
    }

    const inserted = this.deps.calls.insert(record);
    const call: LiveCall = {
      id: ref.callId,
      roomId: input.roomId,
      callType: input.callType,
      callerName: caller.username,
      caller: { userId: party.userId, connId: party.connId, grace: undefined },
      callee: { userId: input.targetUserId, connId: undefined, grace: undefined },
      status: 'ringing',
      answeredAt: undefined,
      ringTimer: undefined,
      writes: inserted.catch(() => undefined),
    };
    this.live.set(call.id, call);
    this.byUser.set(call.caller.userId, call);
    this.byUser.set(call.callee.userId, call);
    try {
      await inserted;
    } catch (error) {
      this.untrack(call);
      throw error;
    }
    // The caller may have hung up, or chatd begun to stop, while the record was written.
    if (this.live.get(call.id) !== call) throw new Conflict('The call ended before it rang');
    call.ringTimer = setTimeout(() => void this.finish(call, 'missed', 'timeout'), this.deps.settings.ringTimeoutSeconds * 1000);
    this.deps.realtime.sendToUser(call.callee.userId, 'incoming_call', this.incomingPayload(call));
    return { event: 'call_ringing', data: ref };
  }

  /** `accept_call`: this connection of the callee takes the call; the callee's other devices stop ringing. */
  async accept(party: CallParty, callId: string): Promise<CallReply> {
    await this.throttle(party);
    const call = this.callOf(party, callId);
    if (call.callee.userId !== party.userId) throw new Forbidden('Only the person called can accept a call');
    if (call.status !== 'ringing') {
      throw new Conflict(call.callee.connId === party.connId ? 'You already accepted this call' : 'This call was answered on another device');
    }
    clearTimeout(call.ringTimer);
    clearTimeout(call.callee.grace);
    call.ringTimer = undefined;
    call.callee.grace = undefined;
    const others = this.deps.realtime.connectionIds(party.userId).filter((connId) => connId !== party.connId);
    call.status = 'active';
    call.answeredAt = new Date();
    call.callee.connId = party.connId;
    await this.write(call, { status: 'active', answeredAt: call.answeredAt });
    const accepted = { callId: call.id, callerId: call.caller.userId, calleeId: call.callee.userId };
    this.deliver(call, call.caller, 'call_accepted', accepted);
    for (const connId of others) this.deps.realtime.sendToConnection(party.userId, connId, 'call_answered_elsewhere', { callId: call.id });
    return { event: 'call_accepted', data: accepted };
  }

  /** `reject_call`: the callee declines a ringing call on every device. */
  async reject(party: CallParty, callId: string): Promise<CallReply> {
    await this.throttle(party);
    const call = this.callOf(party, callId);
    if (call.callee.userId !== party.userId) throw new Forbidden('Only the person called can reject a call; use end_call to hang up');
    if (call.status !== 'ringing') throw new Conflict('This call was already answered; use end_call to hang up');
    return this.decline(call, party);
  }

  /** `end_call`: hangs up an answered call, cancels a ringing one (caller) or declines it (callee). */
  async end(party: CallParty, callId: string): Promise<CallReply> {
    await this.throttle(party);
    const call = this.callOf(party, callId);
    if (call.status === 'ringing' && call.callee.userId === party.userId) return this.decline(call, party);
    const ended = await this.finish(call, call.status === 'active' ? 'ended' : 'missed', call.status === 'active' ? 'hangup' : 'cancelled', party);
    return { event: 'call_ended', data: ended };
  }

  /**
   * `webrtc_offer`, `webrtc_answer`, `ice_candidate`: passed to the other participant of the
   * sender's ringing or active call, from the connection carrying it (any ringing device of the
   * callee), with `senderId` and `callId` added. Anyone else is refused and nothing is delivered.
   */
  async relay(party: CallParty, kind: SignalKind, input: { targetUserId: string; callId?: string | undefined; payload: SessionDescription | IceCandidate }): Promise<void> {
    await this.throttle(party);
    const call = this.byUser.get(party.userId);
    const mine = call && this.sideOf(call, party.userId);
    const theirs = call && (mine === call.caller ? call.callee : call.caller);
    if (!call || !mine || !theirs || theirs.userId !== input.targetUserId || (input.callId !== undefined && input.callId !== call.id)) {
      throw new Forbidden('You are not in a call with this user');
    }
    const ringingDevice = call.status === 'ringing' && mine === call.callee;
    if (!ringingDevice && mine.connId !== party.connId) throw new Forbidden('This call is carried by another of your connections');
    this.deliver(call, theirs, kind, { callId: call.id, senderId: party.userId, [signalField[kind]]: input.payload });
  }

  /** A connection authenticated: a ringing callee's new device rings too, and a dropped participant resumes. */
  connected(party: CallParty): void {
    const call = this.byUser.get(party.userId);
    if (!call) return;
    const side = this.sideOf(call, party.userId);
    if (call.status === 'ringing' && side === call.callee) {
      clearTimeout(side.grace);
      side.grace = undefined;
      this.deps.realtime.sendToConnection(party.userId, party.connId, 'incoming_call', this.incomingPayload(call));
      return;
    }
    if (!side.grace) return;
    // The first connection back carries the call on; the client learns of it even after a reload.
    clearTimeout(side.grace);
    side.grace = undefined;
    side.connId = party.connId;
    const peer = side === call.caller ? call.callee : call.caller;
    this.deps.realtime.sendToConnection(party.userId, party.connId, 'call_resumed', {
      callId: call.id,
      callerId: call.caller.userId,
      calleeId: call.callee.userId,
      peerId: peer.userId,
      roomId: call.roomId,
      callType: call.callType,
      status: call.status,
    });
  }

  /** A connection closed: if it carried a call, or was a ringing callee's last, the grace period starts. */
  disconnected(party: CallParty): void {
    void this.limiter.delete(String(party.connId));
    const call = this.byUser.get(party.userId);
    if (!call) return;
    const side = this.sideOf(call, party.userId);
    const carried = side.connId === party.connId;
    const lastRinging = call.status === 'ringing' && side === call.callee && !this.deps.realtime.isOnline(party.userId);
    if ((!carried && !lastRinging) || side.grace) return;
    side.connId = undefined;
    side.grace = setTimeout(() => {
      side.grace = undefined;
      void this.finish(call, call.status === 'active' ? 'ended' : 'missed', 'disconnected');
    }, this.deps.settings.reconnectGraceSeconds * 1000);
  }

  /** `GET /api/calls`: the user's own calls, newest first. */
  async listCalls(userId: string, query: ListCallsInput) {
    const docs = await this.deps.calls.listForUser(userObjectId(userId), { skip: (query.page - 1) * query.limit, limit: query.limit, status: query.status });
    return { calls: docs.slice(0, query.limit).map((doc) => presentCall(doc, userId)), page: query.page, limit: query.limit, hasMore: docs.length > query.limit };
  }

  /**
   * `GET /api/calls/ice-servers`: STUN as configured, TURN with credentials in coturn's REST
   * scheme (username `<expiry>:<userId>`, password base64 HMAC-SHA1 of it keyed with the secret).
   */
  iceServers(userId: string, now = Date.now()): { iceServers: IceServer[]; ttl: number } {
    const { stunUrls, turnUrls, turnSecret, turnTtlSeconds } = this.deps.settings;
    const iceServers: IceServer[] = [];
    if (stunUrls.length > 0) iceServers.push({ urls: stunUrls });
    if (turnUrls.length > 0 && turnSecret) {
      const username = `${Math.floor(now / 1000) + turnTtlSeconds}:${userId}`;
      iceServers.push({ urls: turnUrls, username, credential: createHmac('sha1', turnSecret).update(username).digest('base64') });
    }
    return { iceServers, ttl: turnTtlSeconds };
  }

  /** Closes the calls an earlier run left open (it crashed, or lost the database while stopping). */
  async recover(): Promise<void> {
    try {
      const closed = await this.deps.calls.closeAbandoned(this.bootedAt, new Date());
      if (closed > 0) this.log.info({ closed }, 'closed calls an earlier run left in progress');
    } catch (error) {
      this.log.error({ err: error }, 'could not close calls an earlier run left in progress');
    }
  }

  /** On shutdown: ends every call in progress and waits until the records are written. */
  async drain(): Promise<void> {
    for (const call of [...this.live.values()]) void this.finish(call, call.status === 'active' ? 'ended' : 'missed', 'server_shutdown');
    while (this.inflight.size > 0) await Promise.all(this.inflight);
  }

  get activeCallCount(): number {
    return this.live.size;
  }

  private async decline(call: LiveCall, party: CallParty): Promise<CallReply> {
    await this.finish(call, 'rejected', 'rejected', party);
    return { event: 'call_rejected', data: { callId: call.id, callerId: call.caller.userId, calleeId: call.callee.userId } };
  }

  private sideOf(call: LiveCall, userId: string): Side {
    return call.caller.userId === userId ? call.caller : call.callee;
  }

  private callOf(party: CallParty, callId: string): LiveCall {
    const call = this.live.get(callId);
    // Someone else's call id is answered as unknown, so ids reveal nothing.
    if (!call || (call.caller.userId !== party.userId && call.callee.userId !== party.userId)) throw new NotFound('No such call in progress');
    return call;
  }

  /** Ends a call once: forgets it, records the end, then tells whoever still holds it. */
  private async finish(call: LiveCall, status: CallStatus, reason: CallEndReason, by?: CallParty) {
    if (this.live.get(call.id) !== call) return this.endedPayload(call, status, reason, by, 0);
    this.untrack(call);
    const endedAt = new Date();
    const duration = call.answeredAt ? Math.round((endedAt.getTime() - call.answeredAt.getTime()) / 1000) : 0;
    await this.write(call, { status, endedAt, endReason: reason, duration });
    const ended = this.endedPayload(call, status, reason, by, duration);
    if (reason === 'rejected') {
      this.deliver(call, call.caller, 'call_rejected', { callId: call.id, callerId: call.caller.userId, calleeId: call.callee.userId });
    } else {
      this.deliver(call, call.caller, 'call_ended', ended, by?.connId);
    }
    this.deliver(call, call.callee, 'call_ended', ended, by?.connId);
    return ended;
  }

  private endedPayload(call: LiveCall, status: CallStatus, reason: CallEndReason, by: CallParty | undefined, duration: number) {
    return { callId: call.id, status, reason, endedBy: by?.userId ?? null, duration };
  }

  private incomingPayload(call: LiveCall) {
    return { callId: call.id, callerId: call.caller.userId, callerName: call.callerName, callType: call.callType, roomId: call.roomId };
  }

  /** Sends to the connection carrying `side`'s end of the call; a ringing callee's every device; nobody during a grace period. */
  private deliver(call: LiveCall, side: Side, event: string, data: unknown, exceptConnId?: number): void {
    if (side.connId !== undefined) {
      if (side.connId !== exceptConnId) this.deps.realtime.sendToConnection(side.userId, side.connId, event, data);
      return;
    }
    if (side === call.callee && call.status === 'ringing') {
      for (const connId of this.deps.realtime.connectionIds(side.userId)) {
        if (connId !== exceptConnId) this.deps.realtime.sendToConnection(side.userId, connId, event, data);
      }
    }
  }

  private untrack(call: LiveCall): void {
    clearTimeout(call.ringTimer);
    clearTimeout(call.caller.grace);
    clearTimeout(call.callee.grace);
    call.caller.grace = call.callee.grace = call.ringTimer = undefined;
    this.live.delete(call.id);
    if (this.byUser.get(call.caller.userId) === call) this.byUser.delete(call.caller.userId);
    if (this.byUser.get(call.callee.userId) === call) this.byUser.delete(call.callee.userId);
  }

  /**
   * Queues a change to the call's record behind its earlier ones. A failed write is logged, not
   * thrown: the call goes on for its participants, and a later start closes what was left open.
   */
  private write(call: LiveCall, change: Partial<Omit<CallDocument, '_id'>>): Promise<void> {
    const id = new ObjectId(call.id);
    const written = call.writes
      .then(() => this.deps.calls.update(id, change))
      .catch((error: unknown) => this.log.error({ err: error, callId: call.id }, 'could not record a call change'));
    call.writes = written;
    this.inflight.add(written);
    void written.finally(() => this.inflight.delete(written));
    return written;
  }

  private async throttle(party: CallParty): Promise<void> {
    try {
      await this.limiter.consume(String(party.connId));
    } catch (rejection) {
      if (!(rejection instanceof RateLimiterRes)) throw rejection;
      throw rateLimitedBy({ points: this.deps.settings.signalingLimit, durationSeconds: 10 }, { variable: 'CALL_SIGNALING_LIMIT', counts: 'Call events on one connection' }, rejection.msBeforeNext / 1000);
    }
  }
}
