import type Router from '@koa/router';
import { ObjectId, type Db } from 'mongodb';
import type { Config } from './config/load.js';
import type { BackgroundJob } from './core/background-job.js';
import { configuredDatabaseKind } from './db/database.js';
import type { DatabaseEngine } from './db/engine.js';
import type { ChatdState } from './http/context.js';
import type { Logger } from './logger.js';
import { createAccounts, STANDINGS_REFRESH_SECONDS } from './modules/auth/accounts.js';
import { sessionRecheckJob, tokenSweepJob } from './modules/auth/jobs.js';
import { requireAdmin, requireAuth } from './modules/auth/middleware.js';
import type { Authenticator } from './core/principal.js';
import { authRoutes } from './modules/auth/routes.js';
import type { TokenSigner } from './modules/auth/tokens.js';
import { webAppBuilt } from './http/web-app.js';
import { healthRoutes } from './modules/health/routes.js';
import { presentPublicUser } from './modules/users/presenter.js';
import { usersRoutes } from './modules/users/routes.js';
import { callsEvents } from './modules/calls/events.js';
import { CallsRepo } from './modules/calls/repo.js';
import { callsRoutes } from './modules/calls/routes.js';
import { CallsService } from './modules/calls/service.js';
import { scheduledBackupJob } from './ops/backup/job.js';
import { CollectionsRepo } from './ops/backup/collections-repo.js';
import { backupsRoutes } from './ops/backup/routes.js';
import { BackupsService } from './ops/backup/admin.js';
import { retentionJob } from './ops/retention/job.js';
import { StorageHealth } from './ops/storage.js';
import { unattachedUploadsJob } from './ops/uploads/job.js';
import { FilesRepo } from './modules/files/repo.js';
import { filesRoutes } from './modules/files/routes.js';
import { FilesService } from './modules/files/service.js';
import { FileStorage } from './modules/files/storage.js';
import { messagesEvents } from './modules/messages/events.js';
import { MemoryTimeline } from './modules/messages/memory-timeline.js';
import { MessagesRepo } from './modules/messages/repo.js';
import { messagesRoutes } from './modules/messages/routes.js';
import { MessagesService } from './modules/messages/service.js';
import { QueryTimeline, type Timeline } from './modules/messages/timeline.js';
import { TimelineRepo } from './modules/messages/timeline-repo.js';
import { presenceEvents } from './modules/presence/events.js';
import { LiveStatuses } from './modules/presence/live-statuses.js';
import { PresenceService } from './modules/presence/service.js';
import { RoomAccess } from './modules/rooms/access.js';
import { RoomActivity } from './modules/rooms/activity.js';
import { roomsEvents, type UsernameLookup } from './modules/rooms/events.js';
import type { UsersRepo } from './modules/users/repo.js';
import { MembershipCache } from './modules/rooms/membership-cache.js';
import { MembershipsRepo } from './modules/rooms/membership-repo.js';
import { RoomsRepo } from './modules/rooms/repo.js';
import { roomsRoutes } from './modules/rooms/routes.js';
import { RoomsAdmin, roomsAdminRoutes } from './modules/rooms/admin.js';
import { RoomsService } from './modules/rooms/service.js';
import type { RealtimePublisher } from './realtime/publisher.js';
import type { HubModule } from './realtime/types.js';
import type { ChatdMetrics } from './metrics/registry.js';

export interface ServiceDeps {
  config: Config;
  logger: Logger;
  /** The database for requests: every operation fails after DB_TIMEOUT_MS without an answer. */
  db: Db;
  /** The same database without deadlines, for work that answers no request (scheduled backups). */
  maintenanceDb?: Db;
  /** The server behind `db`: FerretDB answers message history from chatd's own index. */
  engine: DatabaseEngine;
  realtime: RealtimePublisher;
  /** Present when METRICS_PORT is set. */
  metrics?: ChatdMetrics;
}

/** A user's stored name, for the hub's typing relays. */
function usernameLookup(users: UsersRepo): UsernameLookup {
  return async (userId) => (await users.findById(new ObjectId(userId)))?.username ?? '';
}

/** Everything the transports use, wired once: the composition root. */
export interface Services {
  signer: TokenSigner;
  authenticator: Authenticator;
  rooms: RoomsService;
  messages: MessagesService;
  files: FilesService;
  presence: PresenceService;
  storage: StorageHealth;
  routers: Router<ChatdState>[];
  hubModules: HubModule[];
  jobs: BackgroundJob[];
  /**
   * Settles once the start-up loads the jobs begin (memberships, block lists, the message index)
   * have finished or failed: from then on chatd answers history and sends (readiness).
   */
  started(): Promise<void>;
  /** Called on shutdown after the transports stopped: flush what is buffered. */
  drain(): Promise<void>;
}

export function createServices({ config, logger, db, maintenanceDb, engine, realtime, metrics }: ServiceDeps): Services {
  const live = new LiveStatuses();
  const accounts = createAccounts({ config, logger, db, realtime, presence: live });
  const { signer, authenticator } = accounts;
  accounts.hasher.warm();
  const authDeps = { authenticator, csrf: accounts.csrf, allowedOrigins: config.CORS_ORIGIN };
  const auth = requireAuth(authDeps);
  const users = accounts.users;

  const roomsRepo = new RoomsRepo(db);
  const membershipsRepo = new MembershipsRepo(db);
  const messagesRepo = new MessagesRepo(db);
  const savedIndex = new TimelineRepo(db);
  const startup = maintenanceDb ? { messages: new MessagesRepo(maintenanceDb), saved: new TimelineRepo(maintenanceDb) } : undefined;
  const timeline: Timeline = engine === 'ferretdb' ? new MemoryTimeline({ messages: messagesRepo, saved: savedIndex, logger, startup }) : new QueryTimeline(messagesRepo, savedIndex);
  const cache = new MembershipCache(roomsRepo, membershipsRepo);
  const access = new RoomAccess({ cache, users, logger });
  accounts.usersService.onBlocksChanged((user) => access.blocksChanged(user._id, user.blockedUsers));
  const activity = new RoomActivity({ rooms: roomsRepo, memberships: membershipsRepo, logger });
  const storage = new FileStorage(config.CHATD_DATA_DIR);
  const storageHealth = new StorageHealth(config.CHATD_DATA_DIR, config.STORAGE_RESERVE_MB * 1024 * 1024, logger);
  const uploadPolicy = {
    quotaBytes: config.UPLOAD_QUOTA_BYTES,
    rate: accounts.rateLimits.limit('upload', config.RATE_LIMIT_UPLOAD, { variable: 'RATE_LIMIT_UPLOAD', counts: 'Uploads by this account' }),
  };
  const files = new FilesService(new FilesRepo(db), storage, timeline, (roomId, userId) => access.isMember(roomId, userId), uploadPolicy, logger);
  const messages = new MessagesService({
    repo: messagesRepo,
    timeline,
    access,
    activity,
    files,
    realtime,
    logger,
    batchMax: config.MESSAGE_BATCH_MAX,
    flushMs: config.MESSAGE_FLUSH_MS,
    queueMax: config.MESSAGE_QUEUE_MAX,
    writeDeadlineMs: config.DB_TIMEOUT_MS,
    storage: storageHealth,
    onStoreLatency: metrics && ((seconds) => metrics.messageStored(seconds)),
  });
  const rooms = new RoomsService({
    rooms: roomsRepo,
    memberships: membershipsRepo,
    cache,
    access,
    activity,
    summaries: messages,
    users,
    presence: live,
    realtime,
    logger,
  });
  const presence = new PresenceService(users, access, realtime, live, logger);
  accounts.usersService.onProfileChanged((user) => void presence.profileChanged(presentPublicUser(user)));

  const calls = new CallsService({
    calls: new CallsRepo(db),
    users,
    access,
    realtime,
    logger,
    settings: {
      ringTimeoutSeconds: config.CALL_RING_TIMEOUT_SECONDS,
      reconnectGraceSeconds: config.CALL_RECONNECT_GRACE_SECONDS,
      signalingLimit: config.CALL_SIGNALING_LIMIT,
      stunUrls: config.STUN_URLS ?? [],
      turnUrls: config.TURN_URLS ?? [],
      turnSecret: config.TURN_SECRET,
      turnTtlSeconds: config.TURN_CREDENTIAL_TTL,
    },
  });
  const backups = scheduledBackupJob({ config, logger, db: maintenanceDb ?? db });
  const adminBackups = new BackupsService({
    collections: new CollectionsRepo(maintenanceDb ?? db),
    databaseKind: configuredDatabaseKind(config),
    dataDir: config.CHATD_DATA_DIR,
    backupDir: config.BACKUP_DIR,
    logger,
  });
  let recovering: Promise<void> | undefined;
  /** The start-up loads of the messaging-startup job; settled until that job starts. */
  let loading: Promise<void> = Promise.resolve();
  let startupLoaded = false;

  return {
    signer,
    authenticator,
    rooms,
    messages,
    files,
    presence,
    storage: storageHealth,
    routers: [
      healthRoutes({
        db,
        databaseKind: configuredDatabaseKind(config),
        engine,
        requireAuth: auth,
        requireAdmin,
        connections: () => presence.counts(),
        activeCalls: () => calls.activeCallCount,
        storage: storageHealth,
        messages,
        startupLoaded: () => startupLoaded,
        timeoutMs: Math.min(1000, config.DB_TIMEOUT_MS),
      }),
      authRoutes({
        ...authDeps,
        auth: accounts.auth,
        usersService: accounts.usersService,
        oauth: accounts.oauth,
        signer,
        // Browsers drop Secure cookies over plain http://, so the scheme users reach chatd by decides.
        secureCookies: new URL(config.PUBLIC_URL).protocol === 'https:',
        oauthSuccessUrl: config.OAUTH_SUCCESS_URL,
        webLanding: webAppBuilt() ? '/oauth/done' : undefined,
      }),
      usersRoutes({ usersService: accounts.usersService, requireAuth: auth, requireAdmin, storage }),
      roomsRoutes({ rooms, requireAuth: auth }),
      roomsAdminRoutes({ admin: new RoomsAdmin(roomsRepo, realtime, config.RETENTION_DAYS), requireAuth: auth, requireAdmin }),
      messagesRoutes({ messages, requireAuth: auth }),
      filesRoutes({ files, storage, requireAuth: auth, maxUploadBytes: config.MAX_UPLOAD_BYTES, space: storageHealth }),
      callsRoutes({ calls, requireAuth: auth }),
      backupsRoutes({ backups: adminBackups, requireAuth: auth, requireAdmin }),
    ],
    hubModules: [
      messagesEvents({ messages, access, rooms }),
      roomsEvents({ access, usernameOf: usernameLookup(users) }),
      presenceEvents({ presence }),
      callsEvents({ calls }),
    ],
    jobs: [
      { name: 'storage-health', start: () => storageHealth.start(), stop: () => storageHealth.stop() },
      {
        name: 'messaging-startup',
        start: () => {
          presence.start();
          loading = Promise.all([
            access.preload().catch((error: unknown) => logger.warn({ err: error }, 'could not cache memberships or block lists at start-up; loading them on demand')),
            messages.start().catch((error: unknown) => logger.error({ err: error }, 'could not read the newest message id; sends will retry')),
            accounts.revocations
              .preload()
              .then(({ users, revocations }) => logger.info({ users: users ?? 'too many: read on demand', revocations }, 'token checks answer from memory'))
              .catch((error: unknown) => logger.warn({ err: error }, 'could not read account standings at start-up; token checks read them on demand')),
          ]).then(() => {
            startupLoaded = true;
          });
        },
        stop: () => undefined,
      },
      {
        name: 'calls-recovery',
        start: () => {
          recovering = calls.recover();
        },
        stop: () => recovering,
      },
      tokenSweepJob(accounts.tokens, accounts.knownAddresses, config.TOKEN_SWEEP_CRON, logger),
      // The log is read as often as either setting asks: it also keeps the token checks' cache current.
      sessionRecheckJob({ users, revocations: accounts.revocations, realtime, intervalSeconds: Math.min(config.AUTH_CACHE_SECONDS, config.SESSION_RECHECK_SECONDS), refreshSeconds: STANDINGS_REFRESH_SECONDS, logger }),
      ...(backups ? [backups] : []),
      { name: 'admin-backups', start: () => undefined, stop: () => adminBackups.stop() },
      retentionJob({ config, logger, rooms, messages }),
      unattachedUploadsJob({ config, logger, files }),
    ],
    started: () => loading,
    drain: async () => {
      // Messages first: they are what was promised. The shutdown timer leaves a margin to close the database.
      await messages.drain(Math.max(1000, config.SHUTDOWN_TIMEOUT_SECONDS * 1000 - 3000));
      await Promise.all([activity.drain(), presence.drain(), calls.drain()]);
    },
  };
}
