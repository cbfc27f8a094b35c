import { z } from 'zod';

const objectId = (what: string) => z.string().regex(/^[0-9a-f]{24}$/i, `must be a ${what} id (24 hex characters)`);

/**
 * Bounds on what is relayed. A browser's offer for audio, video and a data channel is 5–15 KB and
 * a candidate line about 200 bytes; anything far beyond that is not signaling.
 */
export const SDP_MAX_BYTES = 32 * 1024;
export const CANDIDATE_MAX_BYTES = 1024;

export const CallUserSchema = z.strictObject({
  targetUserId: objectId('user'),
  roomId: objectId('room'),
  callType: z.enum(['audio', 'video']),
});

export const CallIdSchema = z.strictObject({ callId: objectId('call') });

const sessionDescription = (type: 'offer' | 'answer') =>
  z.strictObject({ type: z.literal(type), sdp: z.string().min(1).max(SDP_MAX_BYTES, `must be at most ${SDP_MAX_BYTES} characters`) });

// RTCIceCandidate.toJSON(): an empty `candidate` is the end-of-candidates marker.
const iceCandidate = z.strictObject({
  candidate: z.string().max(CANDIDATE_MAX_BYTES, `must be at most ${CANDIDATE_MAX_BYTES} characters`),
  sdpMid: z.string().max(64).nullable().optional(),
  sdpMLineIndex: z.number().int().min(0).max(1024).nullable().optional(),
  usernameFragment: z.string().max(256).nullable().optional(),
});

/**
 * What `ice_candidate` relays: an RTCIceCandidate's JSON, or a whole session description, which is
 * what the spec's own example sends there (`candidate: pc.currentLocalDescription`).
 */
const relayedCandidate = z.union([
  iceCandidate,
  z.strictObject({ type: z.enum(['offer', 'answer']), sdp: z.string().min(1).max(SDP_MAX_BYTES, `must be at most ${SDP_MAX_BYTES} characters`) }),
]);

// `callId` is optional because a user is in at most one call: the spec's payloads name only the peer.
const signaling = { targetUserId: objectId('user'), callId: objectId('call').optional() };

export const WebrtcOfferSchema = z.strictObject({ ...signaling, offer: sessionDescription('offer') });
export const WebrtcAnswerSchema = z.strictObject({ ...signaling, answer: sessionDescription('answer') });
export const IceCandidateSchema = z.strictObject({ ...signaling, candidate: relayedCandidate });

export const ListCallsQuery = z.strictObject({
  page: z.coerce.number().int().min(1).max(10_000).default(1),
  limit: z.coerce.number().int().min(1).max(100).default(20),
  status: z.enum(['ringing', 'active', 'ended', 'missed', 'rejected', 'busy']).optional(),
});

export type CallUserInput = z.infer<typeof CallUserSchema>;
export type ListCallsInput = z.infer<typeof ListCallsQuery>;
export type SessionDescription = z.infer<ReturnType<typeof sessionDescription>>;
export type IceCandidate = z.infer<typeof relayedCandidate>;
