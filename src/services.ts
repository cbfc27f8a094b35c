import type Router from '@koa/router';
import type { Db } from 'mongodb';
import type { Config } from './config/load.js';
import type { ChatdState } from './http/context.js';
import type { Logger } from './logger.js';
import { createAccounts } from './modules/auth/accounts.js';
import { sessionRecheckJob, tokenSweepJob } from './modules/auth/jobs.js';
import { requireAdmin, requireAuth } from './modules/auth/middleware.js';
import type { Authenticator } from './modules/auth/principal.js';
import { authRoutes } from './modules/auth/routes.js';
import type { TokenSigner } from './modules/auth/tokens.js';
import { healthRoutes } from './modules/health/routes.js';
import { usersRoutes } from './modules/users/routes.js';
import { callsHubModule } from './modules/calls/events.js';
import { CallsRepo, MembershipsReader } from './modules/calls/repo.js';
import { callRoutes } from './modules/calls/routes.js';
import { CallsService } from './modules/calls/service.js';
import { scheduledBackupJob } from './ops/backup/job.js';
import { retentionJob } from './ops/retention/job.js';
import type { RealtimePublisher } from './realtime/publisher.js';
import type { HubModule } from './realtime/types.js';

export interface ServiceDeps {
  config: Config;
  logger: Logger;
  db: Db;
  realtime: RealtimePublisher;
}

/** A background job run by `chatd serve` (token sweeps, backups, retention). */
export interface BackgroundJob {
  name: string;
  start(): void;
  stop(): Promise<void> | void;
}

/** Everything the transports use, wired once: the composition root. */
export interface Services {
  signer: TokenSigner;
  authenticator: Authenticator;
  routers: Router<ChatdState>[];
  hubModules: HubModule[];
  jobs: BackgroundJob[];
  /** Called on shutdown after the transports stopped: flush what is buffered. */
  drain(): Promise<void>;
}

export function createServices({ config, logger, db, realtime }: ServiceDeps): Services {
  const accounts = createAccounts({ config, logger, db, realtime });
  const { signer, authenticator } = accounts;
  accounts.hasher.warm();
  const authDeps = { authenticator, csrf: accounts.csrf, allowedOrigins: config.CORS_ORIGIN };
  const auth = requireAuth(authDeps);
  const calls = new CallsService({
    calls: new CallsRepo(db),
    users: accounts.users,
    // Stands in for the rooms service until it exists (see MembershipsReader).
    rooms: new MembershipsReader(db),
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
  const backups = scheduledBackupJob({ config, logger, db });
  let recovering: Promise<void> | undefined;
  return {
    signer,
    authenticator,
    routers: [
      healthRoutes(db),
      authRoutes({
        ...authDeps,
        auth: accounts.auth,
        usersService: accounts.usersService,
        oauth: accounts.oauth,
        signer,
        secureCookies: config.NODE_ENV === 'production',
        oauthSuccessUrl: config.OAUTH_SUCCESS_URL,
      }),
      usersRoutes({ usersService: accounts.usersService, requireAuth: auth, requireAdmin }),
      callRoutes(calls, auth),
    ],
    hubModules: [callsHubModule(calls)],
    jobs: [
      ...(backups ? [backups] : []),
      retentionJob({ config, logger, db }),
      tokenSweepJob(accounts.tokens, config.TOKEN_SWEEP_CRON, logger),
      sessionRecheckJob({ users: accounts.users, revocations: accounts.revocations, realtime, intervalSeconds: config.SESSION_RECHECK_SECONDS, logger }),
      {
        name: 'calls-recovery',
        start: () => {
          recovering = calls.recover();
        },
        stop: () => recovering,
      },
    ],
    drain: () => calls.drain(),
  };
}
