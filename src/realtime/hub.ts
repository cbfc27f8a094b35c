import uWS, { type TemplatedApp, type us_listen_socket } from 'uWebSockets.js';
import type { Config } from '../config/load.js';
import type { Logger } from '../logger.js';
import type { Authenticator } from '../core/principal.js';
import { ClientAddress } from './address.js';
import { CloseCode, Dispatcher } from './dispatcher.js';
import { ConnectionRegistry } from './registry.js';
import { SocketIoTransport } from './socketio-transport.js';
import type { HubMetrics, HubModule } from './types.js';
import { WsTransport } from './ws-transport.js';

export { CloseCode } from './dispatcher.js';

export interface HubOptions {
  config: Config;
  logger: Logger;
  authenticator: Authenticator;
  /** Frames per second a connection may send (burst = 2×); default WS_EVENTS_PER_SECOND. */
  messagesPerSecond?: number;
  metrics?: HubMetrics;
}

/**
 * The realtime hub on `WS_PORT`: one uWS app carrying two thin transports (native `/ws` and
 * Socket.IO at `/socket.io/`) over one dispatcher and one connection registry. Services talk to
 * `registry`, the `RealtimePublisher`.
 */
export class Hub {
  readonly app: TemplatedApp;
  readonly registry: ConnectionRegistry;
  readonly dispatcher: Dispatcher;
  readonly address: ClientAddress;
  private readonly socketIo: SocketIoTransport;
  private listenSocket: us_listen_socket | undefined;
  private nextConnId = 1;
  private expirySweep: NodeJS.Timeout | undefined;
  port = 0;

  constructor(options: HubOptions) {
    const { config, logger } = options;
    const log = logger.child({ component: 'hub' });
    this.registry = new ConnectionRegistry({ connectionsPerUser: config.WS_CONNECTIONS_PER_USER, connectionsPerAddress: config.WS_CONNECTIONS_PER_ADDRESS }, options.metrics);
    this.dispatcher = new Dispatcher({
      logger,
      authenticator: options.authenticator,
      registry: this.registry,
      eventsPerSecond: options.messagesPerSecond ?? config.WS_EVENTS_PER_SECOND,
      userEventsPerSecond: config.WS_USER_EVENTS_PER_SECOND,
      refusedFramesLimit: config.WS_REFUSED_FRAMES_LIMIT,
      authTimeoutSeconds: config.WS_AUTH_TIMEOUT_SECONDS,
      metrics: options.metrics,
    });
    this.address = new ClientAddress(config.TRUST_PROXY);
    this.app = uWS.App();
    const shared = {
      app: this.app,
      dispatcher: this.dispatcher,
      registry: this.registry,
      address: this.address,
      logger: log,
      allowedOrigins: new Set(config.CORS_ORIGIN),
      maxFrameBytes: config.WS_MAX_FRAME_BYTES,
      nextConnId: () => this.nextConnId++,
    };
    this.registry.addTransport(new WsTransport({ ...shared, idleTimeoutSeconds: config.WS_IDLE_TIMEOUT_SECONDS }));
    this.socketIo = new SocketIoTransport(shared);
    this.registry.addTransport(this.socketIo);
    this.app.any('/*', (res) => {
      res.writeStatus('404 Not Found').writeHeader('Content-Type', 'application/json');
      res.end(JSON.stringify({ success: false, error: { code: 'NOT_FOUND', message: 'The hub lives at /ws and /socket.io/' } }));
    });
  }

  /** Adds a capability's events and connection hooks. */
  use(module: HubModule): this {
    this.dispatcher.use(module);
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
        this.expirySweep = setInterval(() => this.dispatcher.closeExpired(), 5000);
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
    for (const conn of this.registry.all()) conn.end(CloseCode.goingAway, 'server shutting down');
    this.socketIo.close();
  }

  get connectionCount(): number {
    return this.registry.connectionCount;
  }
}
