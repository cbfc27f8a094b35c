import type { Context, Next, ParameterizedContext } from 'koa';
import type { Logger } from '../logger.js';
import type { Principal } from '../core/principal.js';

/** What the middleware chain leaves on ctx.state for handlers. */
export interface ChatdState {
  requestId: string;
  log: Logger;
  /** Set by the auth middleware. */
  principal?: Principal;
  /** How the principal authenticated; cookie sessions need a CSRF check on unsafe methods. */
  authVia?: 'bearer' | 'cookie';
  /** Set by the validate middleware: the parsed, typed input. */
  input: { body: unknown; query: unknown; params: unknown };
}

export type ChatdContext = ParameterizedContext<ChatdState> & Context;
export type ChatdMiddleware = (ctx: ChatdContext, next: Next) => Promise<unknown> | unknown;
