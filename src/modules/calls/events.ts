import { handler, type HandlerContext, type HubModule } from '../../realtime/types.js';
import { CallIdSchema, CallUserSchema, IceCandidateSchema, WebrtcAnswerSchema, WebrtcOfferSchema } from './schemas.js';
import type { CallParty, CallsService } from './service.js';

const partyOf = ({ principal, conn }: Pick<HandlerContext, 'principal' | 'conn'>): CallParty => ({ userId: principal.userId, connId: conn.connId });

export interface CallsEventsDeps {
  calls: CallsService;
}

/** The calls share of the hub: ringing, answering, hanging up, and the WebRTC signaling relay. */
export function callsEvents({ calls }: CallsEventsDeps): HubModule {
  return {
    handlers: {
      call_user: handler({ schema: CallUserSchema, handle: (ctx, data) => calls.callUser(partyOf(ctx), data) }),
      accept_call: handler({ schema: CallIdSchema, handle: (ctx, { callId }) => calls.accept(partyOf(ctx), callId) }),
      reject_call: handler({ schema: CallIdSchema, handle: (ctx, { callId }) => calls.reject(partyOf(ctx), callId) }),
      end_call: handler({ schema: CallIdSchema, handle: (ctx, { callId }) => calls.end(partyOf(ctx), callId) }),
      webrtc_offer: handler({
        schema: WebrtcOfferSchema,
        handle: (ctx, { targetUserId, callId, offer }) => calls.relay(partyOf(ctx), 'webrtc_offer', { targetUserId, callId, payload: offer }),
      }),
      webrtc_answer: handler({
        schema: WebrtcAnswerSchema,
        handle: (ctx, { targetUserId, callId, answer }) => calls.relay(partyOf(ctx), 'webrtc_answer', { targetUserId, callId, payload: answer }),
      }),
      ice_candidate: handler({
        schema: IceCandidateSchema,
        handle: (ctx, { targetUserId, callId, candidate }) => calls.relay(partyOf(ctx), 'ice_candidate', { targetUserId, callId, payload: candidate }),
      }),
    },
    onAuthenticated: (conn) => {
      // After the `authenticated` reply, so a client hears who it is before what it is in.
      setImmediate(() => {
        if (conn.principal && !conn.closed) calls.connected(partyOf({ principal: conn.principal, conn }));
      });
    },
    onClose: (conn) => {
      if (conn.principal) calls.disconnected(partyOf({ principal: conn.principal, conn }));
    },
  };
}
