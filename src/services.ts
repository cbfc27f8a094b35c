import type Router from '@koa/router';
import type { Db } from 'mongodb';
import type { Config } from './config/load.js';
import type { ChatdState } from './http/context.js';
import type { Logger } from './logger.js';
import { JwtAuthenticator } from './modules/auth/authenticator.js';
import type { Authenticator } from './modules/auth/principal.js';
import { TokenSigner } from './modules/auth/tokens.js';
import { healthRoutes } from './modules/health/routes.js';
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

export function createServices({ config, logger, db }: ServiceDeps): Services {
  const signer = new TokenSigner({
    accessSecret: config.JWT_SECRET,
    refreshSecret: config.JWT_REFRESH_SECRET,
    accessTtlSeconds: config.JWT_EXPIRY,
    refreshTtlSeconds: config.JWT_REFRESH_EXPIRY,
  });
  const authenticator = new JwtAuthenticator(signer);
  const backups = scheduledBackupJob({ config, logger, db });
  return {
    signer,
    authenticator,
    routers: [healthRoutes(db)],
    hubModules: [],
    jobs: [...(backups ? [backups] : []), retentionJob({ config, logger, db })],
    drain: async () => undefined,
  };
}
