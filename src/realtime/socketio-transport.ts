import type { WebSocketBehavior } from 'uWebSockets.js';
import { Server, type Socket } from 'socket.io';
import { presentedToken } from '../core/credentials.js';
import { AppError, describeError, PayloadTooLarge, Unauthorized } from '../errors.js';
import { EncodedJson } from './codec.js';
import type { TopicPublisher } from './registry.js';
import type { TransportOptions } from './transport.js';
import { Connection, type ReplyTo } from './types.js';

/** Where Socket.IO lives on the hub's port (Socket.IO's own default, which the spec's clients use). */
export const SOCKET_IO_PATH = '/socket.io/';

/**
 * Where the spec's answer differs from the native frame: the spec's `message_sent` carries the
 * message itself and `message_history` the array of messages, oldest first. Every other event has
 * the same payload on both transports.
 */
const specFields: Record<string, string> = {
  message_sent: 'message',
  message_history: 'messages',
};

/** The payload a Socket.IO client gets for an event, as JSON text. */
function specJson(event: string, data: unknown): string {
  const field = specFields[event];
  if (data instanceof EncodedJson) {
    if (field === undefined) return data.json;
    return data.parts?.[field] ?? JSON.stringify((JSON.parse(data.json) as Record<string, unknown>)[field]);
  }
  const payload = field === undefined ? data : (data as Record<string, unknown>)[field];
  return JSON.stringify(payload) ?? 'null';
}

/**
 * The Socket.IO EVENT packet for the default namespace (`2["event",payload]`), written as text so
 * a message serialised once is not parsed and serialised again per packet.
 */
function eventPacket(event: string, data: unknown): string {
  return `2[${JSON.stringify(event)},${specJson(event, data)}]`;
}

/**
 * The uWS topic Socket.IO subscribes a WebSocket client to for a room of the default namespace
 * (socket.io's uws adapter: namespace, U+001F, room).
 */
const uwsTopic = (room: string) => `/\x1f${room}`;

/** The uWS socket under an engine.io WebSocket connection, or undefined on long-polling. */
function uwsSocketOf(socket: Socket): { publish(topic: string, message: string, isBinary?: boolean): boolean } | undefined {
  const transport = socket.conn.transport as unknown as { name: string; socket?: { publish(topic: string, message: string, isBinary?: boolean): boolean } };
  return transport.name === 'websocket' ? transport.socket : undefined;
}

/**
 * A Socket.IO client's token: `auth.token`, then what /ws reads (`Authorization: Bearer`, refused
 * when malformed, or the access cookie), then `?token=` for old clients.
 */
function handshakeToken(socket: Socket): string | undefined {
  const { auth, headers, query } = socket.handshake;
  if (typeof auth?.token === 'string' && auth.token) return auth.token;
  const presented = presentedToken(headers.authorization, headers.cookie);
  if (presented) return presented.token;
  return typeof query.token === 'string' && query.token ? query.token : undefined;
}

/** A connection of a Socket.IO client: spec payloads, acknowledgements, `error` events. */
export class SocketIoConnection extends Connection {
  readonly transport = 'socket.io' as const;
  /** Size of the last message packet, checked against the frame limit before dispatch. */
  lastPacketBytes = 0;

  constructor(
    connId: number,
    ip: string,
    tokens: number,
    readonly socket: Socket,
  ) {
    super(connId, ip, tokens);
  }

  push(event: string, data: unknown): void {
    if (!this.closed) this.write(eventPacket(event, data));
  }

  /** Writes an encoded Socket.IO packet (engine.io adds its message type). */
  write(packet: string): void {
    this.socket.conn.write(packet);
  }

  pushMany(events: readonly (readonly [string, unknown])[]): void {
    for (const [event, data] of events) this.push(event, data);
  }

  reply(event: string | undefined, data: unknown, replyTo: ReplyTo): void {
    if (this.closed) return;
    if (event === undefined) {
      if (typeof replyTo === 'function') replyTo({ success: true });
      return;
    }
    const json = specJson(event, data);
    this.write(`2[${JSON.stringify(event)},${json}]`);
    if (typeof replyTo === 'function') replyTo({ success: true, event, data: JSON.parse(json) });
  }

  replyError(error: { code: string; message: string }, replyTo: ReplyTo): void {
    if (this.closed) return;
    this.socket.emit('error', error);
    if (typeof replyTo === 'function') replyTo({ success: false, error });
  }

  subscribe(topic: string): void {
    if (!this.closed) void this.socket.join(topic);
  }

  unsubscribe(topic: string): void {
    if (!this.closed) void this.socket.leave(topic);
  }

  /** Says why first (`closing {code, reason}`): a Socket.IO client sees no WebSocket close code. */
  end(code: number, reason: string): void {
    if (this.closed) return;
    this.socket.emit('closing', { code, reason });
    this.socket.disconnect(true);
  }
}

/**
 * Socket.IO v4 on the hub's uWS app (`io.attachApp`), for clients written from the spec: the
 * handshake authenticates, every event goes to the one dispatcher, and room broadcasts go through
 * uWS publish like the native ones. Long-polling stays on: socket.io-client starts with it unless
 * told otherwise, and the spec's `io(url)` must work unchanged.
 */
export class SocketIoTransport implements TopicPublisher {
  readonly io: Server;
  private open = 0;
  /** Connections still on HTTP long-polling: uWS topics reach only WebSocket clients. */
  private readonly polling = new Set<SocketIoConnection>();

  constructor(private readonly options: TransportOptions) {
    const { app, allowedOrigins, maxFrameBytes, logger } = options;
    const anyOrigin = allowedOrigins.has('*');
    this.io = new Server({
      path: SOCKET_IO_PATH,
      // The same upper bound as /ws: packets between maxFrameBytes and this get an error event, larger ones close.
      maxHttpBufferSize: Math.max(maxFrameBytes * 16, 1024 * 1024),
      cors: { origin: anyOrigin ? true : [...allowedOrigins], credentials: true },
      // The same Origin rule as /ws: browsers always send one; other clients have no ambient credentials.
      allowRequest: (req, callback) => {
        const origin = req.headers.origin;
        if (origin && !anyOrigin && !allowedOrigins.has(origin)) {
          logger.warn({ origin }, 'refused Socket.IO handshake from a foreign origin');
          callback('Origin not allowed', false);
          return;
        }
        callback(null, true);
      },
    });
    // engine.io's uWS behavior has no closeOnBackpressureLimit option; without it uWS silently drops
    // what a slow consumer cannot take. Closed instead, the client reconnects and resumes with `since`.
    const ws = app.ws.bind(app);
    app.ws = <T>(pattern: string, behavior: WebSocketBehavior<T>) => ws(pattern, { ...behavior, maxBackpressure: 1024 * 1024, closeOnBackpressureLimit: 1 });
    try {
      this.io.attachApp(app);
    } finally {
      app.ws = ws;
    }
    this.io.use((socket, next) => {
      this.handshake(socket).then(
        () => next(),
        (error: unknown) => {
          const refusal = error instanceof AppError ? error : new Unauthorized('Invalid token');
          next(Object.assign(new Error(refusal.message), { data: describeError(refusal) }));
        },
      );
    });
    this.io.on('connection', (socket) => this.connected(socket));
  }

  private async handshake(socket: Socket): Promise<void> {
    const { headers, address } = socket.handshake;
    const ip = this.options.address.resolve(address, (name) => {
      const value = headers[name];
      return Array.isArray(value) ? value.join(',') : value;
    });
    this.options.registry.admit(ip);
    const token = handshakeToken(socket);
    if (!token) throw new Unauthorized('Authentication required: pass auth: {token}, an Authorization: Bearer header, the access cookie or ?token=');
    const principal = await this.options.dispatcher.authenticateHandshake(token);
    const conn = new SocketIoConnection(this.options.nextConnId(), ip, this.options.dispatcher.initialTokens, socket);
    conn.principal = principal;
    socket.data.conn = conn;
  }

  private connected(socket: Socket): void {
    const conn = socket.data.conn as SocketIoConnection;
    this.open += 1;
    this.options.dispatcher.opened(conn);
    if (!uwsSocketOf(socket)) {
      this.polling.add(conn);
      socket.conn.once('upgrade', () => this.polling.delete(conn));
    }
    socket.conn.on('packet', (packet: { type: string; data?: unknown }) => {
      if (packet.type === 'message') conn.lastPacketBytes = typeof packet.data === 'string' ? Buffer.byteLength(packet.data) : 0;
    });
    socket.onAny((event: string, ...args: unknown[]) => {
      const ack = typeof args[args.length - 1] === 'function' ? (args.pop() as (...values: unknown[]) => void) : undefined;
      if (conn.lastPacketBytes > this.options.maxFrameBytes) {
        this.options.dispatcher.refuse(conn, new PayloadTooLarge(`Frame of ${conn.lastPacketBytes} bytes exceeds the ${this.options.maxFrameBytes}-byte limit`), ack);
        return;
      }
      this.options.dispatcher.dispatch(conn, event, args[0], ack);
    });
    socket.on('disconnect', () => {
      this.open -= 1;
      this.polling.delete(conn);
      this.options.dispatcher.closed(conn);
    });
  }

  /**
   * Socket.IO's own room broadcast walks every socket of the room in JavaScript after its uWS
   * publish (to find long-polling ones), and leaves uWS entirely when a sender is excluded. Here
   * WebSocket clients get one uWS publish of a packet encoded once; the few long-polling clients
   * are written one by one.
   */
  publish(topic: string, event: string, data: unknown, except: Connection | undefined): void {
    if (this.open === 0) return;
    const packet = eventPacket(event, data);
    const frame = `4${packet}`;
    const excluded = except instanceof SocketIoConnection && !except.closed ? except : undefined;
    const senderSocket = excluded && uwsSocketOf(excluded.socket);
    if (senderSocket) senderSocket.publish(uwsTopic(topic), frame, false);
    else this.options.app.publish(uwsTopic(topic), frame, false);
    for (const conn of this.polling) {
      if (conn !== excluded && !conn.closed && conn.socket.rooms.has(topic)) conn.write(packet);
    }
  }

  subscribers(topic: string): number {
    return this.io.sockets.adapter.rooms.get(topic)?.size ?? 0;
  }

  close(): void {
    this.io.disconnectSockets(true);
    void this.io.close();
  }
}
