import { z } from 'zod';
import { AppError, describeError, Forbidden, infrastructureFailure, Invalid, rateLimitedBy, type RateLimited, Unauthorized } from '../errors.js';
import { zodDetails } from '../http/validate.js';
import type { Logger } from '../logger.js';
import type { Authenticator, Principal } from '../core/principal.js';
import type { ConnectionRegistry } from './registry.js';
import { handler, type Connection, type HubHandler, type HubMetrics, type HubModule, type Reply, type ReplyTo } from './types.js';

/** Close codes the hub uses. */
export const CloseCode = { goingAway: 1001, policyViolation: 1008, tooBig: 1009 } as const;

/** Refused frames are counted over windows this long. */
const STRIKE_WINDOW_MS = 10_000;

export interface DispatcherOptions {
  logger: Logger;
  authenticator: Authenticator;
  registry: ConnectionRegistry;
  /** Events one connection may send per second (burst = 2×). */
  eventsPerSecond: number;
  /** Events one user may send per second over all their connections (burst = 2×). */
  userEventsPerSecond: number;
  /** Refused frames (invalid, oversize, over a rate) per 10 s after which a connection is closed. */
  refusedFramesLimit: number;
  authTimeoutSeconds: number;
  metrics?: HubMetrics;
}

interface Bucket {
  tokens: number;
  refilledAt: number;
}

/**
 * The hub's one dispatcher, under every transport: the event table, schema validation, the rate
 * limits per connection and per user, authentication, the error mapping, and closing connections
 * that keep sending what is refused. A transport decodes its frames and calls `dispatch`.
 */
export class Dispatcher {
  private readonly handlers = new Map<string, HubHandler>();
  private readonly modules: HubModule[] = [];
  private readonly userBuckets = new Map<string, Bucket>();
  private readonly log: Logger;

  constructor(private readonly options: DispatcherOptions) {
    this.log = options.logger.child({ component: 'hub' });
    this.handlers.set('authenticate', this.authenticateHandler());
  }

  /** Adds a capability's events and connection hooks. */
  use(module: HubModule): this {
    for (const [event, definition] of Object.entries(module.handlers ?? {})) {
      if (this.handlers.has(event)) throw new Error(`hub event ${event} is registered twice`);
      this.handlers.set(event, definition);
    }
    this.modules.push(module);
    return this;
  }

  get initialTokens(): number {
    return this.options.eventsPerSecond * 2;
  }

  /** Verifies a token for a transport's handshake, and that the user may open one more connection. */
  async authenticateHandshake(token: string): Promise<Principal> {
    const principal = await this.options.authenticator.authenticate(token);
    this.options.registry.admitUser(principal.userId);
    return principal;
  }

  /** A transport opened a connection (admitted by the registry; authenticated already or not yet). */
  opened(conn: Connection): void {
    this.options.registry.opened(conn);
    if (conn.principal) {
      this.attach(conn);
    } else {
      conn.authTimer = setTimeout(() => {
        if (!conn.closed && !conn.principal) conn.end(CloseCode.policyViolation, 'authentication timeout');
      }, this.options.authTimeoutSeconds * 1000);
    }
  }

  /** Binds an open connection to the user a token proved it is. */
  bind(conn: Connection, principal: Principal): void {
    if (conn.authTimer) clearTimeout(conn.authTimer);
    conn.authTimer = undefined;
    conn.principal = principal;
    this.attach(conn);
  }

  closed(conn: Connection): void {
    conn.closed = true;
    if (conn.authTimer) clearTimeout(conn.authTimer);
    this.options.registry.closed(conn);
    const userId = conn.principal?.userId;
    if (userId !== undefined && !this.options.registry.isOnline(userId)) this.userBuckets.delete(userId);
    for (const module of this.modules) {
      try {
        module.onClose?.(conn);
      } catch (error) {
        this.log.error({ err: error }, 'onClose hook failed');
      }
    }
  }

  /** Binds an authenticated connection to its user: registry, module hooks. */
  private attach(conn: Connection): void {
    this.options.registry.bindUser(conn);
    for (const module of this.modules) {
      if (!module.onAuthenticated) continue;
      Promise.resolve(module.onAuthenticated(conn)).catch((error: unknown) => this.log.error({ err: error }, 'onAuthenticated hook failed'));
    }
  }

  /**
   * Answers a frame the transport refused before dispatch (not JSON, too large) or that dispatch
   * refused; a connection that keeps sending such frames is closed instead of answered forever.
   */
  refuse(conn: Connection, error: AppError, replyTo: ReplyTo): void {
    if (conn.closed) return;
    const now = Date.now();
    if (now - conn.strikesSince > STRIKE_WINDOW_MS) {
      conn.strikes = 0;
      conn.strikesSince = now;
    }
    conn.strikes += 1;
    if (conn.strikes > this.options.refusedFramesLimit) {
      this.log.warn({ ip: conn.ip, userId: conn.principal?.userId, transport: conn.transport }, 'closed a hub connection that kept sending refused frames');
      conn.end(CloseCode.policyViolation, 'too many refused frames');
      return;
    }
    conn.replyError(describeError(error), replyTo);
  }

  private fail(conn: Connection, error: unknown, replyTo: ReplyTo, event: string): void {
    if (conn.closed) return;
    if (!(error instanceof AppError)) {
      const infrastructure = infrastructureFailure(error);
      if (infrastructure) this.log.warn({ err: error, event }, infrastructure.message);
      else this.log.error({ err: error, event }, 'hub handler failed');
      error = infrastructure ?? new AppError('INTERNAL', 'Internal server error');
    }
    conn.replyError(describeError(error as AppError), replyTo);
  }

  private take(bucket: Bucket, perSecond: number, now: number): boolean {
    bucket.tokens = Math.min(perSecond * 2, bucket.tokens + ((now - bucket.refilledAt) / 1000) * perSecond);
    bucket.refilledAt = now;
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  }

  /** Takes one event from the connection's bucket and then the user's, or says which limit refused it. */
  private rateLimit(conn: Connection): RateLimited | undefined {
    const now = Date.now();
    const { eventsPerSecond, userEventsPerSecond } = this.options;
    if (!this.take(conn, eventsPerSecond, now)) {
      return rateLimitedBy({ points: eventsPerSecond, durationSeconds: 1 }, { variable: 'WS_EVENTS_PER_SECOND', counts: 'Hub events on one connection' }, 1);
    }
    // The authenticate frame comes before there is a user to count against.
    const userId = conn.principal?.userId;
    if (userId === undefined) return undefined;
    let bucket = this.userBuckets.get(userId);
    if (!bucket) this.userBuckets.set(userId, (bucket = { tokens: userEventsPerSecond * 2, refilledAt: now }));
    if (!this.take(bucket, userEventsPerSecond, now)) {
      return rateLimitedBy({ points: userEventsPerSecond, durationSeconds: 1 }, { variable: 'WS_USER_EVENTS_PER_SECOND', counts: 'Hub events for one account, over all its connections' }, 1);
    }
    return undefined;
  }

  /** Runs one client event: checks, the handler, and the reply or error to `replyTo`. */
  dispatch(conn: Connection, event: string, data: unknown, replyTo: ReplyTo): void {
    const definition = this.handlers.get(event);
    this.options.metrics?.received(definition ? event : 'unknown');
    // Before authentication every event but the public ones is answered alike, known or not.
    if (!conn.principal && definition?.auth !== false) {
      this.refuse(conn, new Unauthorized('Authenticate first: send {"event":"authenticate","data":{"token":"..."}}'), replyTo);
      return;
    }
    if (!definition) {
      this.refuse(conn, new Invalid(`Unknown event "${event}"`), replyTo);
      return;
    }
    if (definition.rateLimited !== false) {
      const limited = this.rateLimit(conn);
      if (limited) {
        this.refuse(conn, limited, replyTo);
        return;
      }
    }
    const parsed = definition.schema.safeParse(data ?? {});
    if (!parsed.success) {
      const details = zodDetails(parsed.error);
      this.refuse(conn, new Invalid(`Invalid ${event}: ${details.map((d) => `${d.path}: ${d.message}`).join('; ')}`, details), replyTo);
      return;
    }
    let result: Promise<Reply | void> | Reply | void;
    try {
      result = definition.handle({ conn, principal: conn.principal!, rooms: this.options.registry }, parsed.data);
    } catch (error) {
      this.fail(conn, error, replyTo, event);
      return;
    }
    if (result instanceof Promise) {
      result.then(
        (reply) => {
          if (!conn.closed) this.answer(conn, reply, replyTo);
        },
        (error: unknown) => this.fail(conn, error, replyTo, event),
      );
    } else {
      this.answer(conn, result, replyTo);
    }
  }

  /** Sends a handler's reply; a Socket.IO acknowledgement is answered even when there is no reply event. */
  private answer(conn: Connection, reply: Reply | void, replyTo: ReplyTo): void {
    if (reply) {
      conn.reply(reply.event, reply.data, replyTo);
      this.options.metrics?.sent(reply.event, 1);
    }
    else if (typeof replyTo === 'function') conn.reply(undefined, undefined, replyTo);
  }

  /** Closes connections whose token expired (run periodically by the hub). */
  closeExpired(): void {
    const now = Date.now() / 1000;
    this.options.registry.disconnect((conn) => conn.principal !== undefined && conn.principal.expiresAt <= now, CloseCode.policyViolation, 'token expired');
  }

  private authenticateHandler(): HubHandler {
    return handler({
      schema: z.strictObject({ token: z.string().min(1).max(4096) }),
      auth: false,
      handle: async ({ conn }, { token }) => {
        const principal = await this.options.authenticator.authenticate(token);
        if (conn.closed) return;
        if (conn.principal) {
          // Re-authentication extends a connection with a fresh token; it cannot switch users.
          if (conn.principal.userId !== principal.userId) throw new Forbidden('This connection belongs to another user');
          conn.principal = principal;
        } else {
          this.options.registry.admitUser(principal.userId);
          this.bind(conn, principal);
        }
        return { event: 'authenticated', data: { userId: principal.userId } };
      },
    });
  }
}
