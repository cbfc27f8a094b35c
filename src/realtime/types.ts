import type { z } from 'zod';
import type { Principal } from '../core/principal.js';

/** Which transport carries a connection. */
export type TransportName = 'ws' | 'socket.io';

/**
 * Where a reply goes: the native frame's `id` (echoed on the reply), or a Socket.IO
 * acknowledgement callback; undefined when the client asked for neither.
 */
export type ReplyTo = string | number | ((...args: unknown[]) => void) | undefined;

/**
 * One client connection, whatever carries it. The dispatcher, the registry and the hub modules
 * see only this; each transport subclasses it with its socket. Small on purpose: every idle
 * connection pays for its fields.
 */
export abstract class Connection {
  principal: Principal | undefined = undefined;
  closed = false;
  authTimer: NodeJS.Timeout | undefined = undefined;
  /** Token bucket for the per-connection event rate limit. */
  tokens: number;
  refilledAt: number;
  /** Refused frames (invalid, oversize, over a limit) in the current strike window. */
  strikes = 0;
  strikesSince = 0;
  /** user_typing relays per room, for throttling; allocated on the first typing event. */
  typing: Map<string, TypingState> | undefined = undefined;
  /** The user's name as stored, looked up on the first typing event (never taken from the client). */
  username: string | undefined = undefined;

  constructor(
    readonly connId: number,
    readonly ip: string,
    tokens: number,
  ) {
    this.tokens = tokens;
    this.refilledAt = Date.now();
  }

  abstract readonly transport: TransportName;
  /** Sends an event pushed by the server (not a reply). */
  abstract push(event: string, data: unknown): void;
  /** Sends several pushed events in one write where the transport can. */
  abstract pushMany(events: readonly (readonly [string, unknown])[]): void;
  /**
   * Answers a client event: the reply event, and the frame id or acknowledgement it asked for.
   * `event` is undefined for a handler with nothing to say, whose acknowledgement is still due.
   */
  abstract reply(event: string | undefined, data: unknown, replyTo: ReplyTo): void;
  /** Answers a client event with an error: the `error` event `{code, message}`. */
  abstract replyError(error: { code: string; message: string; details?: unknown }, replyTo: ReplyTo): void;
  abstract subscribe(topic: string): void;
  abstract unsubscribe(topic: string): void;
  /** Closes the connection; `code` is a WebSocket close code. */
  abstract end(code: number, reason: string): void;
}

/** What the disconnect predicates of the services see of a connection. */
export type SocketData = Connection;

/** What the typing throttle remembers per room and connection; mutated in place. */
export interface TypingState {
  /** When a `true` was last relayed (ms). */
  startedAt: number;
  /** Whether the last relayed state was `true`, so one `false` may follow. */
  active: boolean;
}

/** What a handler answers with; the transport adds the frame id or the acknowledgement. */
export interface Reply {
  event: string;
  data: unknown;
}

/** What the registry offers handlers: fan-out to a room that reaches both transports. */
export interface RoomBroadcaster {
  /** Sends to every subscriber of `topic` on every transport, except `except` when given. */
  publish(topic: string, event: string, data: unknown, except?: Connection): void;
}

export interface HandlerContext {
  conn: Connection;
  /** Present on every handler that requires authentication (the default). */
  principal: Principal;
  rooms: RoomBroadcaster;
}

export interface HubHandler<S extends z.ZodType = z.ZodType> {
  schema: S;
  /** Runs before authentication when false; default true. */
  auth?: boolean;
  /** Counts against the connection's and the user's event rate limits; default true. */
  rateLimited?: boolean;
  handle(ctx: HandlerContext, data: z.infer<S>): Promise<Reply | void> | Reply | void;
}

/** Declares a handler with its data type inferred from the schema. */
export function handler<S extends z.ZodType>(definition: HubHandler<S>): HubHandler {
  return definition as unknown as HubHandler;
}

/** What the hub reports for metrics (src/metrics implements it); absent when metrics are off. */
export interface HubMetrics {
  received(event: string): void;
  /** One frame of `event` serialised and written to `deliveries` sockets. */
  sent(event: string, deliveries: number): void;
}

/** A capability's share of the hub: its events and its reactions to connections coming and going. */
export interface HubModule {
  handlers?: Record<string, HubHandler>;
  onAuthenticated?(conn: Connection): void | Promise<void>;
  onClose?(conn: Connection): void;
}
