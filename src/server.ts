import { createServer, type Server } from 'node:http';
import type { Config } from './config/load.js';
import { openDatabase, type Database } from './db/database.js';
import { detectEngine } from './db/engine.js';
import { migrate, migrationStatus } from './db/migrate.js';
import { createHttpApp } from './http/app.js';
import { attachHubForwarder, hubHostFor } from './http/hub-forwarder.js';
import { loadWebApp, WEB_APP_DIR } from './http/web-app.js';
import type { Logger } from './logger.js';
import { Hub } from './realtime/hub.js';
import { detectUwsRuntime } from './realtime/native.js';
import { createServices, type Services } from './services.js';
import { version } from './version.js';
import { listenMetrics, type MetricsEndpoint } from './metrics/endpoint.js';
import { observeServer } from './metrics/server-gauges.js';
import { ChatdMetrics } from './metrics/registry.js';

export interface RunningServer {
  httpPort: number;
  wsPort: number;
  database: Database;
  services: Services;
  hub: Hub;
  /** Graceful stop: refuse new work, store and acknowledge accepted messages, close sockets with 1001, finish requests, close the database. */
  stop(): Promise<void>;
  /** Last resort when the graceful stop overran: kills the embedded database so that nothing outlives this process. */
  kill(): void;
}

export interface StartOptions {
  config: Config;
  logger: Logger;
  /** Apply pending migrations before serving (default true). */
  migrate?: boolean;
}

function listenHttp(server: Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => {
      reject(error.code === 'EADDRINUSE' ? new Error(`PORT ${port} is already in use on ${host}`) : error);
    });
    server.listen(port, host, () => {
      const address = server.address();
      resolve(typeof address === 'object' && address ? address.port : port);
    });
  });
}

/** Starts everything `chatd serve` runs; the caller owns signals and the exit code. */
export async function startServer({ config, logger, migrate: applyMigrations = true }: StartOptions): Promise<RunningServer> {
  const runtime = detectUwsRuntime();
  if (!runtime.native) {
    // The only uWebSockets.js builds in the npm registry that load on glibc 2.36 are for Node 20
    // (README: "Which Node.js"); elsewhere the hub would quietly run many times slower.
    if (!config.ALLOW_SLOW_HUB) {
      throw new Error(
        `uWebSockets.js cannot load its native binary ${runtime.binary} (${runtime.reason}), and its JavaScript fallback is many times slower: ` +
          `run chatd on Node.js 20 (this is ${process.version}), or set ALLOW_SLOW_HUB=1 to serve on the fallback anyway`,
      );
    }
    logger.error({ binary: runtime.binary, reason: runtime.reason }, 'uWebSockets.js is NOT using its native binary: the hub runs on a slow JavaScript fallback (ALLOW_SLOW_HUB is set)');
  }

  const metrics = config.METRICS_PORT !== undefined ? new ChatdMetrics() : undefined;
  const database = await openDatabase(config, logger, { supervise: true, command: 'serve', exclusive: true, monitorCommands: metrics !== undefined });
  if (metrics) metrics.observeDatabase(database.client);
  logger.info({ database: database.kind, uri: database.displayUri }, 'database connected');
  let hub: Hub | undefined;
  let httpServer: Server | undefined;
  let metricsEndpoint: MetricsEndpoint | undefined;
  try {
    // A schema this chatd does not know (it was downgraded, or a newer chatd's backup restored by hand) would be misread and then written.
    const newer = (await migrationStatus(database.db)).filter((entry) => !entry.known);
    if (newer.length > 0) throw new Error(`the database was migrated by a newer chatd (${newer.map((entry) => entry.id).join(', ')} unknown here); run that version or newer`);
    if (applyMigrations) {
      const applied = await migrate(database.db, { logger });
      if (applied.length > 0) logger.info({ applied }, 'migrations applied');
    }

    let services: Services | undefined;
    hub = new Hub({ config, logger, metrics, authenticator: { authenticate: (token) => services!.authenticator.authenticate(token) } });
    // Requests get a deadline on every database operation: a database that hangs answers
    // UNAVAILABLE instead of holding the client. Migrations and backups have none.
    const requestDb = await database.withDeadline(config.DB_TIMEOUT_MS, metrics && ((client) => metrics.observeDatabase(client)));
    services = createServices({ config, logger, db: requestDb, maintenanceDb: database.db, engine: await detectEngine(database.db), realtime: hub.registry, metrics });
    for (const module of services.hubModules) hub.use(module);

    const webApp = loadWebApp();
    if (!webApp) logger.warn({ dir: WEB_APP_DIR }, 'the web app is not built (run `npm run setup`): / answers 404');
    const app = createHttpApp({ config, logger, routers: services.routers, webApp, metrics: metrics?.http() });
    const wsPort = await hub.listen(config.HOST, config.WS_PORT);
    httpServer = createServer();
    attachHubForwarder(httpServer, app.callback(), { hubHost: hubHostFor(config.HOST), hubPort: wsPort, proof: hub.address.proof, trustProxy: config.TRUST_PROXY, logger });
    httpServer.keepAliveTimeout = 5000;
    const httpPort = await listenHttp(httpServer, config.HOST, config.PORT);
    database.ownership?.update({ httpPort, wsPort });
    if (metrics) {
      metricsEndpoint = await listenMetrics(observeServer(metrics, { config, hub, services, database }), config.METRICS_HOST, config.METRICS_PORT!);
      logger.info({ host: config.METRICS_HOST, port: metricsEndpoint.port }, 'metrics at GET /metrics');
    }
    for (const job of services.jobs) job.start();
    logger.info({ version, httpPort, wsPort, host: config.HOST, publicUrl: config.PUBLIC_URL, uwsNative: runtime.native }, 'chatd is serving');

    const server = httpServer;
    const liveMetrics = metricsEndpoint;
    const liveHub = hub;
    const liveServices = services;
    let stopping: Promise<void> | undefined;
    // The last line of the start-up, once the memberships and the message index are loaded (their
    // lines come first) and chatd is ready: the address to open, as the README's quick start shows.
    if (webApp) {
      void liveServices.started().then(() => {
        if (!stopping) logger.info({ url: config.PUBLIC_URL }, `open ${config.PUBLIC_URL} in a browser to start chatting`);
      });
    }
    return {
      httpPort,
      wsPort,
      database,
      services: liveServices,
      hub: liveHub,
      kill: () => database.embedded?.kill(),
      stop: () =>
        (stopping ??= (async () => {
          logger.info('shutting down');
          // Drain: accept nothing new, store what was accepted and acknowledge it on the sockets
          // it came from, and only then close them with 1001.
          liveHub.stopListening();
          const closed = new Promise<void>((resolve) => server.close(() => resolve()));
          server.closeIdleConnections();
          const deadline = setTimeout(() => server.closeAllConnections(), Math.max(1000, config.SHUTDOWN_TIMEOUT_SECONDS * 1000 - 2000));
          await liveServices.messages.finishSends(Math.max(1000, config.SHUTDOWN_TIMEOUT_SECONDS * 1000 - 3000));
          liveHub.close();
          await closed;
          clearTimeout(deadline);
          await Promise.all(liveServices.jobs.map((job) => job.stop()));
          await liveServices.drain();
          await liveMetrics?.close();
          await database.close();
          logger.info('stopped');
        })()),
    };
  } catch (error) {
    hub?.close();
    httpServer?.close();
    await metricsEndpoint?.close();
    await database.close().catch(() => undefined);
    throw error;
  }
}
