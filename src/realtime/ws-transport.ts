import type uWS from 'uWebSockets.js';
import type { WebSocket } from 'uWebSockets.js';
import { presentedToken } from '../core/credentials.js';
import { AppError, describeError, RateLimited, Unauthorized } from '../errors.js';
import { decodeFrame, encodeFrame } from './codec.js';
import { CloseCode } from './dispatcher.js';
import type { TopicPublisher } from './registry.js';
import type { TransportOptions } from './transport.js';
import { Connection, type ReplyTo } from './types.js';

interface UserData {
  conn: NativeConnection;
}

type NativeSocket = WebSocket<UserData>;

/** Frames a connection may send while its upgrade token is still being verified; they run after. */
const PENDING_FRAMES_MAX = 32;

// sendFrame's arguments for the corked send: one function for every corked send, no closure per frame.
let corkedSocket: NativeSocket | undefined;
let corkedFrame = '';
function sendCorked(): void {
  corkedSocket!.send(corkedFrame, false);
  corkedSocket = undefined;
  corkedFrame = '';
}

/** A connection on the native `/ws` protocol: JSON frames `{event, data, id}`. */
export class NativeConnection extends Connection {
  readonly transport = 'ws' as const;
  ws!: NativeSocket;
  /** The upgrade's token while it is being verified, and the frames that arrived meanwhile. */
  pendingToken: string | undefined = undefined;
  pendingFrames: ArrayBuffer[] | undefined = undefined;

  push(event: string, data: unknown): void {
    if (!this.closed) this.sendFrame(encodeFrame(event, data));
  }

  pushMany(events: readonly (readonly [string, unknown])[]): void {
    // One cork: the frames leave in one write. A send past the backpressure limit closes the connection on the spot.
    this.ws.cork(() => {
      for (let i = 0; i < events.length && !this.closed; i++) this.ws.send(encodeFrame(events[i]![0], events[i]![1]), false);
    });
  }

  reply(event: string | undefined, data: unknown, replyTo: ReplyTo): void {
    if (event === undefined || this.closed) return;
    this.sendFrame(encodeFrame(event, data, typeof replyTo === 'function' ? undefined : replyTo));
  }

  replyError(error: { code: string; message: string }, replyTo: ReplyTo): void {
    this.reply('error', error, replyTo);
  }

  /**
   * Writes a frame corked: uWS first drains what topics queued for this socket (ws.send keeps
   * order), so a sender's own `new_message` and its `message_sent` leave in one write, not two.
   */
  private sendFrame(frame: string): void {
    corkedSocket = this.ws;
    corkedFrame = frame;
    this.ws.cork(sendCorked);
  }

  subscribe(topic: string): void {
    if (!this.closed) this.ws.subscribe(topic);
  }

  unsubscribe(topic: string): void {
    if (!this.closed) this.ws.unsubscribe(topic);
  }

  end(code: number, reason: string): void {
    if (!this.closed) this.ws.end(code, reason);
  }
}

export interface WsTransportOptions extends TransportOptions {
  idleTimeoutSeconds: number;
}

/**
 * The native `/ws` transport: the upgrade (Origin check, address cap), the frame codec, and the
 * token from the upgrade's Authorization header or cookie. Everything else is the dispatcher's.
 *
 * The upgrade never waits: a token on it is verified after the socket opened, with the frames
 * that arrive meanwhile held back. An upgrade completed later, outside uWS's handler, must be
 * corked, and uWebSockets.js 20.30's HttpResponse cork misreads a socket upgraded inside it
 * (uWebSockets#1928) and may close it; uncorked, uWS warns on every such upgrade.
 */
export class WsTransport implements TopicPublisher {
  constructor(private readonly options: WsTransportOptions) {
    const { app, maxFrameBytes, idleTimeoutSeconds } = options;
    app.ws<UserData>('/ws', {
      // Frames between maxFrameBytes and this limit get an error frame; beyond it uWS closes with 1009.
      maxPayloadLength: Math.max(maxFrameBytes * 16, 1024 * 1024),
      idleTimeout: idleTimeoutSeconds,
      sendPingsAutomatically: true,
      maxBackpressure: 1024 * 1024,
      // A consumer that cannot keep up is disconnected; it resumes with join_room `since`.
      closeOnBackpressureLimit: 1 as unknown as number,
      upgrade: (res, req, context) => this.upgrade(res, req, context),
      open: (ws) => this.open(ws as NativeSocket),
      message: (ws, message) => this.message((ws as NativeSocket).getUserData().conn, message),
      close: (ws) => options.dispatcher.closed((ws as NativeSocket).getUserData().conn),
    });
  }

  publish(topic: string, event: string, data: unknown, except: Connection | undefined): void {
    const frame = encodeFrame(event, data);
    // A socket's own publish reaches every subscriber but itself.
    if (except instanceof NativeConnection && !except.closed) except.ws.publish(topic, frame, false);
    else this.options.app.publish(topic, frame, false);
  }

  subscribers(topic: string): number {
    return this.options.app.numSubscribers(topic);
  }

  private upgrade(res: uWS.HttpResponse, req: uWS.HttpRequest, context: uWS.us_socket_context_t): void {
    const origin = req.getHeader('origin');
    const ip = this.options.address.of(res, req);

    // RFC 6455 asks for "Connection: Upgrade". uWebSockets.js reads any other five-letter value as
    // "close" and would drop the socket in the middle of upgrading it.
    if (!/(^|[\s,])upgrade($|[\s,])/i.test(req.getHeader('connection'))) {
      res.writeStatus('400 Bad Request').end('A WebSocket handshake needs "Connection: Upgrade"');
      return;
    }
    // Browsers always send Origin; other clients (CLI tools, servers) have no ambient credentials to abuse.
    const { allowedOrigins } = this.options;
    if (origin && !allowedOrigins.has('*') && !allowedOrigins.has(origin)) {
      this.options.logger.warn({ origin, ip }, 'refused WebSocket upgrade from a foreign origin');
      res.writeStatus('403 Forbidden').end('Origin not allowed');
      return;
    }
    let token: string | undefined;
    try {
      token = presentedToken(req.getHeader('authorization'), req.getHeader('cookie'))?.token;
    } catch (error) {
      res.writeStatus('401 Unauthorized').end((error as AppError).message);
      return;
    }
    try {
      this.options.registry.admit(ip);
    } catch (error) {
      res.writeStatus('429 Too Many Requests').writeHeader('Retry-After', '10').end((error as AppError).message);
      return;
    }
    const conn = new NativeConnection(this.options.nextConnId(), ip, this.options.dispatcher.initialTokens);
    conn.pendingToken = token;
    res.upgrade<UserData>({ conn }, req.getHeader('sec-websocket-key'), req.getHeader('sec-websocket-protocol'), req.getHeader('sec-websocket-extensions'), context);
  }

  private open(ws: NativeSocket): void {
    const conn = ws.getUserData().conn;
    conn.ws = ws;
    const token = conn.pendingToken;
    conn.pendingToken = undefined;
    this.options.dispatcher.opened(conn);
    if (!token) return;
    conn.pendingFrames = [];
    this.options.dispatcher.authenticateHandshake(token).then(
      (principal) => {
        if (conn.closed) return;
        this.options.dispatcher.bind(conn, principal);
        // Confirmed like the authenticate frame: from here the user is online and events flow.
        conn.push('authenticated', { userId: principal.userId });
        const held = conn.pendingFrames ?? [];
        conn.pendingFrames = undefined;
        for (const frame of held) this.message(conn, frame);
      },
      (error: unknown) => {
        if (conn.closed) return;
        const refusal = error instanceof AppError ? error : new Unauthorized('Invalid token');
        conn.replyError(describeError(refusal), undefined);
        conn.end(CloseCode.policyViolation, refusal.message.slice(0, 120));
      },
    );
  }

  private message(conn: NativeConnection, message: ArrayBuffer): void {
    if (conn.pendingFrames) {
      // uWS reuses the buffer after this callback returns.
      if (conn.pendingFrames.length < PENDING_FRAMES_MAX) conn.pendingFrames.push(message.slice(0));
      else conn.replyError(describeError(new RateLimited(1, `Wait for authentication before sending more (at most ${PENDING_FRAMES_MAX} frames are held until it completes); try again in 1 second`)), undefined);
      return;
    }
    let frame;
    try {
      frame = decodeFrame(message, this.options.maxFrameBytes);
    } catch (error) {
      this.options.dispatcher.refuse(conn, error as AppError, undefined);
      return;
    }
    this.options.dispatcher.dispatch(conn, frame.event, frame.data, frame.id);
  }
}
