import type { Principal } from '../core/principal.js';

/** Per-connection state kept in uWS user data; small on purpose, every idle connection pays for it. */
export interface SocketData {
  connId: number;
  ip: string;
  principal: Principal | undefined;
  closed: boolean;
  authTimer: NodeJS.Timeout | undefined;
  /** Token bucket for the per-connection message rate limit. */
  tokens: number;
  refilledAt: number;
  /** user_typing relays per room, for throttling; allocated on the first typing event. */
  typing: Map<string, TypingState> | undefined;
}

/** What the typing throttle remembers per room and connection; mutated in place. */
export interface TypingState {
  /** When a `true` was last relayed (ms). */
  startedAt: number;
  /** Whether the last relayed state was `true`, so one `false` may follow. */
  active: boolean;
}
