import uWS, { type TemplatedApp, type us_listen_socket } from 'uWebSockets.js';
import { z } from 'zod';
import type { Config } from '../config/load.js';
import { presentedToken, type PresentedToken } from '../core/credentials.js';
import type { Authenticator, Principal } from '../core/principal.js';
import { AppError, describeError, Forbidden, infrastructureFailure, Invalid, RateLimited, Unauthorized } from '../errors.js';
import { zodDetails } from '../http/validate.js';
import type { Logger } from '../logger.js';
import { decodeFrame, encodeFrame } from './codec.js';
import type { RealtimePublisher } from './publisher.js';
import type { SocketData } from './socket-data.js';
import { handler, type HubHandler, type HubModule, type HubSocket, type Reply } from './types.js';

export interface HubOptions {
  config: Config;
  logger: Logger;
  authenticator: Authenticator;
  /** Frames per second a connection may send (burst = 2×); default WS_EVENTS_PER_SECOND. */
  messagesPerSecond?: number;
}


// sendFrame's arguments for sendCorked: one function for every corked send, no closure per frame.
let corkedSocket: HubSocket | undefined;
let corkedFrame = '';
function sendCorked(): void {
  corkedSocket!.send(corkedFrame, false);
  corkedSocket = undefined;
  corkedFrame = '';
}

/** Close codes the hub uses. */
export const CloseCode = { goingAway: 1001, policyViolation: 1008, tooBig: 1009 } as const;

/**
 * The WebSocket hub: upgrade with Origin and token checks, the frame codec, a dispatch table from
 * event name to handler, each user's open connections, and the error frame for everything that goes wrong.
 */
export class Hub implements RealtimePublisher {
  readonly app: TemplatedApp;
  private readonly handlers = new Map<string, HubHandler>();
  private readonly modules: HubModule[] = [];
  private readonly sockets = new Set<HubSocket>();
  /** A user's open connections: the socket itself while there is one (most users), a set beyond. */
  private readonly byUser = new Map<string, HubSocket | Set<HubSocket>>();
  private readonly log: Logger;
  private readonly allowedOrigins: Set<string>;
  private readonly maxFrame: number;
  private readonly ratePerSecond: number;
  /** Frames for the end of this event-loop turn, per connection (see `sendToUsers`). */
  private outbox = new Map<HubSocket, { socket: SocketData; frames: string[] }>();
  private outboxFlush: NodeJS.Immediate | undefined;
  private listenSocket: us_listen_socket | undefined;
  private nextConnId = 1;
  private expirySweep: NodeJS.Timeout | undefined;
  port = 0;

  constructor(private readonly options: HubOptions) {
    this.log = options.logger.child({ component: 'hub' });
    this.allowedOrigins = new Set(options.config.CORS_ORIGIN);
    this.maxFrame = options.config.WS_MAX_FRAME_BYTES;
    this.ratePerSecond = options.messagesPerSecond ?? options.config.WS_EVENTS_PER_SECOND;
    this.handlers.set('authenticate', this.authenticateHandler());
    this.app = uWS.App();
    this.app.ws<SocketData>('/ws', {
      // Frames between maxFrame and this limit get an error frame; beyond it uWS closes with 1009.
      maxPayloadLength: Math.max(this.maxFrame * 16, 1024 * 1024),
      idleTimeout: options.config.WS_IDLE_TIMEOUT_SECONDS,
      sendPingsAutomatically: true,
      maxBackpressure: 1024 * 1024,
      // A consumer that cannot keep up is disconnected; it resumes with join_room `since`.
      closeOnBackpressureLimit: 1 as unknown as number,
      upgrade: (res, req, context) => this.upgrade(res, req, context),
      open: (ws) => this.open(ws as HubSocket),
      message: (ws, message) => this.message(ws as HubSocket, message),
      close: (ws) => this.closed(ws as HubSocket),
    });
    this.app.any('/*', (res) => {
      res.writeStatus('404 Not Found').writeHeader('Content-Type', 'application/json');
      res.end(JSON.stringify({ success: false, error: { code: 'NOT_FOUND', message: 'The hub lives at /ws' } }));
    });
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

  listen(host: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      this.app.listen(host, port, (socket) => {
        if (!socket) {
          reject(new Error(`the hub could not listen on ${host}:${port} (is the port in use?)`));
          return;
        }
        this.listenSocket = socket;
        this.port = uWS.us_socket_local_port(socket as never);
        this.expirySweep = setInterval(() => this.closeExpired(), 5000);
        this.expirySweep.unref();
        resolve(this.port);
      });
    });
  }

  /** Stops accepting connections; open ones keep working (a drain answers what they sent). */
  stopListening(): void {
    if (this.listenSocket) {
      uWS.us_listen_socket_close(this.listenSocket);
      this.listenSocket = undefined;
    }
  }

  /** Stops accepting connections and closes every open one with 1001. */
  close(): void {
    if (this.expirySweep) clearInterval(this.expirySweep);
    this.stopListening();
    for (const ws of [...this.sockets]) {
      if (!ws.getUserData().closed) ws.end(CloseCode.goingAway, 'server shutting down');
    }
  }

  get connectionCount(): number {
    return this.sockets.size;
  }

  /** Sends one event to every subscriber of `topic`, serialised once. */
  publish(topic: string, event: string, data: unknown): void {
    this.app.publish(topic, encodeFrame(event, data), false);
  }

  /**
   * Sends an event to every connection of a user, serialised once. Sent directly rather than
   * through a per-user topic: a topic and its subscriber record cost every idle connection
   * native memory, for what is a loop over one or two sockets.
   */
  sendToUser(userId: string, event: string, data: unknown): void {
    const sockets = this.byUser.get(userId);
    if (!sockets) return;
    const frame = encodeFrame(event, data);
    if (sockets instanceof Set) for (const ws of sockets) this.sendFrame(ws, frame);
    else this.sendFrame(sockets, frame);
  }

  sendToUsers(userIds: Iterable<string>, event: string, data: unknown): void {
    const frame = encodeFrame(event, data);
    for (const userId of userIds) {
      for (const ws of this.connectionsOf(userId)) {
        const queued = this.outbox.get(ws);
        if (queued) queued.frames.push(frame);
        else this.outbox.set(ws, { socket: ws.getUserData(), frames: [frame] });
      }
    }
    this.outboxFlush ??= setImmediate(() => this.flushOutbox());
  }

  /**
   * Writes what `sendToUsers` queued, one cork per connection. When a thousand members of a room
   * come online together each is told of the other 999: queued, that is one write per member and
   * turn instead of one per frame.
   */
  private flushOutbox(): void {
    const outbox = this.outbox;
    this.outbox = new Map();
    this.outboxFlush = undefined;
    for (const [ws, { socket, frames }] of outbox) {
      if (socket.closed) continue;
      ws.cork(() => {
        // A send past the backpressure limit closes the connection on the spot.
        for (let i = 0; i < frames.length && !socket.closed; i++) ws.send(frames[i]!, false);
      });
    }
  }

  send(ws: HubSocket, event: string, data: unknown, id?: string | number): void {
    if (ws.getUserData().closed) return;
    this.sendFrame(ws, encodeFrame(event, data, id));
  }

  /**
   * Writes a frame corked: uWS first drains what topics queued for this socket (ws.send keeps
   * order), so a sender's own `new_message` and its `message_sent` leave in one write, not two.
   */
  private sendFrame(ws: HubSocket, frame: string): void {
    corkedSocket = ws;
    corkedFrame = frame;
    ws.cork(sendCorked);
  }

  /** Stops every connection of a user from receiving `topic` (they left the room or were removed). */
  unsubscribeUser(userId: string, topic: string): void {
    for (const ws of this.connectionsOf(userId)) {
      if (!ws.getUserData().closed) ws.unsubscribe(topic);
    }
  }

  /** Open connections of a user (each device has its own). */
  connectionsOf(userId: string): Iterable<HubSocket> {
    const sockets = this.byUser.get(userId);
    if (!sockets) return [];
    return sockets instanceof Set ? sockets : [sockets];
  }

  connectionIds(userId: string): number[] {
    return [...this.connectionsOf(userId)].map((ws) => ws.getUserData().connId);
  }

  sendToConnection(userId: string, connId: number, event: string, data: unknown): boolean {
    for (const ws of this.connectionsOf(userId)) {
      const socket = ws.getUserData();
      if (socket.connId !== connId) continue;
      if (socket.closed) return false;
      this.sendFrame(ws, encodeFrame(event, data));
      return true;
    }
    return false;
  }

  isOnline(userId: string): boolean {
    return this.byUser.has(userId);
  }

  /** Closes the connections matching `predicate`, e.g. those of a disabled user or a revoked token. */
  disconnect(predicate: (socket: SocketData) => boolean, code: number, reason: string): number {
    let closed = 0;
    for (const ws of [...this.sockets]) {
      const socket = ws.getUserData();
      if (!socket.closed && predicate(socket)) {
        ws.end(code, reason);
        closed += 1;
      }
    }
    return closed;
  }

  private upgrade(res: uWS.HttpResponse, req: uWS.HttpRequest, context: uWS.us_socket_context_t): void {
    let aborted = false;
    res.onAborted(() => {
      aborted = true;
    });
    const key = req.getHeader('sec-websocket-key');
    const protocol = req.getHeader('sec-websocket-protocol');
    const extensions = req.getHeader('sec-websocket-extensions');
    const origin = req.getHeader('origin');
    let presented: PresentedToken | undefined;
    try {
      presented = presentedToken(req.getHeader('authorization'), req.getHeader('cookie'));
    } catch (error) {
      res.writeStatus('401 Unauthorized').end((error as Error).message);
      return;
    }
    const token = presented?.token;
    const ip = Buffer.from(res.getRemoteAddressAsText()).toString();

    // RFC 6455 asks for "Connection: Upgrade". uWebSockets.js reads any other five-letter value as
    // "close" and would drop the socket in the middle of upgrading it (see `accept`).
    if (!/(^|[\s,])upgrade($|[\s,])/i.test(req.getHeader('connection'))) {
      res.writeStatus('400 Bad Request').end('A WebSocket handshake needs "Connection: Upgrade"');
      return;
    }

    // Browsers always send Origin; other clients (CLI tools, servers) have no ambient credentials to abuse.
    if (origin && !this.allowedOrigins.has('*') && !this.allowedOrigins.has(origin)) {
      this.log.warn({ origin, ip }, 'refused WebSocket upgrade from a foreign origin');
      res.writeStatus('403 Forbidden').end('Origin not allowed');
      return;
    }

    const accept = (principal: Principal | undefined, insideHandler = false) => {
      if (aborted) return;
      const data: SocketData = {
        connId: this.nextConnId++, ip, principal, closed: false, authTimer: undefined,
        tokens: this.ratePerSecond * 2, refilledAt: Date.now(), typing: undefined,
      };
      const upgrade = () => res.upgrade(data, key, protocol, extensions, context);
      if (insideHandler) {
        upgrade();
        return;
      }
      // After the token check, outside uWS's handler, the upgrade must not run in this response's
      // own cork: when uWebSockets.js 20.30's HttpResponse cork ends it finds the upgraded socket at
      // the same address, reads the WebSocket's bytes as the response state, and closes the new
      // connection if they happen to say "Connection: close" (uWebSockets#1928, fixed after 20.30):
      // the client gets the 101 and its first frame, then a drop. Inside another connection's cork
      // this response cannot cork, so that code never runs and uWS counts the writes as corked; the
      // 101 leaves in a few writes. With no other connection open it is upgraded uncorked, and uWS
      // prints a cork warning on stderr.
      const anchor = this.corkAnchor();
      if (anchor) anchor.cork(() => res.cork(upgrade));
      else upgrade();
    };
    if (!token) {
      accept(undefined, true);
      return;
    }
    this.options.authenticator.authenticate(token).then(accept, (error: unknown) => {
      if (aborted) return;
      const message = error instanceof AppError ? error.message : 'Invalid token';
      res.cork(() => res.writeStatus('401 Unauthorized').end(message));
    });
  }

  /** Any open connection, whose cork an asynchronous upgrade borrows (see `upgrade`). */
  private corkAnchor(): HubSocket | undefined {
    for (const ws of this.sockets) if (!ws.getUserData().closed) return ws;
    return undefined;
  }

  private open(ws: HubSocket): void {
    const socket = ws.getUserData();
    this.sockets.add(ws);
    if (socket.principal) {
      this.attach(ws, socket);
    } else {
      socket.authTimer = setTimeout(() => {
        if (!socket.closed && !socket.principal) ws.end(CloseCode.policyViolation, 'authentication timeout');
      }, this.options.config.WS_AUTH_TIMEOUT_SECONDS * 1000);
    }
  }

  /** Binds an authenticated connection to its user: registry, module hooks. */
  private attach(ws: HubSocket, socket: SocketData): void {
    const userId = socket.principal!.userId;
    const existing = this.byUser.get(userId);
    if (!existing) this.byUser.set(userId, ws);
    else if (existing instanceof Set) existing.add(ws);
    else this.byUser.set(userId, new Set([existing, ws]));
    for (const module of this.modules) {
      if (!module.onAuthenticated) continue;
      Promise.resolve(module.onAuthenticated(ws, socket)).catch((error: unknown) => this.log.error({ err: error }, 'onAuthenticated hook failed'));
    }
  }

  private closed(ws: HubSocket): void {
    const socket = ws.getUserData();
    socket.closed = true;
    if (socket.authTimer) clearTimeout(socket.authTimer);
    this.sockets.delete(ws);
    const userId = socket.principal?.userId;
    const existing = userId === undefined ? undefined : this.byUser.get(userId);
    if (existing === ws) {
      this.byUser.delete(userId!);
    } else if (existing instanceof Set) {
      existing.delete(ws);
      if (existing.size === 1) this.byUser.set(userId!, existing.values().next().value!);
    }
    for (const module of this.modules) {
      try {
        module.onClose?.(socket);
      } catch (error) {
        this.log.error({ err: error }, 'onClose hook failed');
      }
    }
  }

  private closeExpired(): void {
    const now = Date.now() / 1000;
    this.disconnect((socket) => socket.principal !== undefined && socket.principal.expiresAt <= now, CloseCode.policyViolation, 'token expired');
  }

  private fail(ws: HubSocket, error: unknown, id: string | number | undefined, event?: string): void {
    if (!(error instanceof AppError)) {
      const infrastructure = infrastructureFailure(error);
      if (infrastructure) this.log.warn({ err: error, event }, infrastructure.message);
      else this.log.error({ err: error, event }, 'hub handler failed');
      error = infrastructure ?? new AppError('INTERNAL', 'Internal server error');
    }
    this.send(ws, 'error', describeError(error as AppError), id);
  }

  private takeToken(socket: SocketData): boolean {
    const now = Date.now();
    socket.tokens = Math.min(this.ratePerSecond * 2, socket.tokens + ((now - socket.refilledAt) / 1000) * this.ratePerSecond);
    socket.refilledAt = now;
    if (socket.tokens < 1) return false;
    socket.tokens -= 1;
    return true;
  }

  private message(ws: HubSocket, message: ArrayBuffer): void {
    const socket = ws.getUserData();
    let frame;
    try {
      frame = decodeFrame(message, this.maxFrame);
    } catch (error) {
      this.fail(ws, error, undefined);
      return;
    }
    const { event, data, id } = frame;
    const definition = this.handlers.get(event);
    // Before authentication every event but the public ones is answered alike, known or not.
    if (!socket.principal && definition?.auth !== false) {
      this.fail(ws, new Unauthorized('Authenticate first: send {"event":"authenticate","data":{"token":"..."}}'), id, event);
      return;
    }
    if (!definition) {
      this.fail(ws, new Invalid(`Unknown event "${event}"`), id, event);
      return;
    }
    if (definition.rateLimited !== false && !this.takeToken(socket)) {
      this.fail(ws, new RateLimited(1, `Slow down: at most ${this.ratePerSecond} events per second`), id, event);
      return;
    }
    const parsed = definition.schema.safeParse(data ?? {});
    if (!parsed.success) {
      const details = zodDetails(parsed.error);
      this.fail(ws, new Invalid(`Invalid ${event}: ${details.map((d) => `${d.path}: ${d.message}`).join('; ')}`, details), id, event);
      return;
    }
    let result: Promise<Reply | void> | Reply | void;
    try {
      result = definition.handle({ ws, socket, principal: socket.principal!, hub: this }, parsed.data);
    } catch (error) {
      this.fail(ws, error, id, event);
      return;
    }
    if (result instanceof Promise) {
      result.then(
        (reply) => reply && this.send(ws, reply.event, reply.data, id),
        (error: unknown) => !socket.closed && this.fail(ws, error, id, event),
      );
    } else if (result) {
      this.send(ws, result.event, result.data, id);
    }
  }

  private authenticateHandler(): HubHandler {
    return handler({
      schema: z.strictObject({ token: z.string().min(1).max(4096) }),
      auth: false,
      handle: async ({ ws, socket }, { token }) => {
        const principal = await this.options.authenticator.authenticate(token);
        if (socket.closed) return;
        if (socket.principal) {
          // Re-authentication extends a connection with a fresh token; it cannot switch users.
          if (socket.principal.userId !== principal.userId) throw new Forbidden('This connection belongs to another user');
          socket.principal = principal;
        } else {
          if (socket.authTimer) clearTimeout(socket.authTimer);
          socket.authTimer = undefined;
          socket.principal = principal;
          this.attach(ws, socket);
        }
        return { event: 'authenticated', data: { userId: principal.userId } };
      },
    });
  }
}

