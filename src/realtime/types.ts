import type { WebSocket } from 'uWebSockets.js';
import type { z } from 'zod';
import type { Principal } from '../core/principal.js';
import type { RealtimePublisher } from './publisher.js';
import type { SocketData } from './socket-data.js';

export type HubSocket = WebSocket<SocketData>;

/** What a handler answers with; the hub echoes the frame's `id` on it. */
export interface Reply {
  event: string;
  data: unknown;
}

export interface HandlerContext {
  ws: HubSocket;
  socket: SocketData;
  /** Present on every handler that requires authentication (the default). */
  principal: Principal;
  hub: RealtimePublisher;
}

export interface HubHandler<S extends z.ZodType = z.ZodType> {
  schema: S;
  /** Runs before authentication when false; default true. */
  auth?: boolean;
  /** Counts against the connection's message rate limit; default true. */
  rateLimited?: boolean;
  handle(ctx: HandlerContext, data: z.infer<S>): Promise<Reply | void> | Reply | void;
}

/** Declares a handler with its data type inferred from the schema. */
export function handler<S extends z.ZodType>(definition: HubHandler<S>): HubHandler {
  return definition as unknown as HubHandler;
}

/** A capability's share of the hub: its events and its reactions to connections coming and going. */
export interface HubModule {
  handlers?: Record<string, HubHandler>;
  onAuthenticated?(ws: HubSocket, socket: SocketData): void | Promise<void>;
  onClose?(socket: SocketData): void;
}
