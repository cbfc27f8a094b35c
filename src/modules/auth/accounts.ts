import type { Db } from 'mongodb';
import type { Config } from '../../config/load.js';
import { RateLimits } from '../../http/rate-limit.js';
import type { Logger } from '../../logger.js';
import type { RealtimePublisher } from '../../realtime/publisher.js';
import { AvatarsRepo } from '../users/avatars-repo.js';
import { UsersRepo } from '../users/repo.js';
import { UsersService, type UsersServiceDeps } from '../users/service.js';
import { JwtAuthenticator } from './authenticator.js';
import { CsrfTokens } from './csrf.js';
import { IdentitiesRepo } from './identities-repo.js';
import { KnownAddressesRepo } from './known-addresses-repo.js';
import { createMailer } from './mailer.js';
import { OAuthFlow } from './oauth.js';
import { PasswordHasher } from './passwords.js';
import { RevocationCache } from './revocation-cache.js';
import { AuthService, authLimitSettings, type AuthLimits } from './service.js';
import { SessionService } from './sessions.js';
import { TokensRepo } from './tokens-repo.js';
import { TokenSigner } from './tokens.js';

export interface AccountsDeps {
  config: Config;
  logger: Logger;
  db: Db;
  realtime: RealtimePublisher;
  /** Live presence, where this process runs the hub. */
  presence?: UsersServiceDeps['presence'];
}

/** How often every account's standing is read again once the change log is followed: a safety net. */
export const STANDINGS_REFRESH_SECONDS = 10 * 60;
// About 100 bytes a user: 200 000 users are 20 MB read once at start-up.
const SESSION_STATE_PRELOAD_LIMIT = 200_000;

/** The accounts capability wired once: `chatd serve` and the `chatd admin` commands build the same objects. */
export function createAccounts({ config, logger, db, realtime, presence }: AccountsDeps) {
  const signer = new TokenSigner({
    accessSecret: config.JWT_SECRET,
    refreshSecret: config.JWT_REFRESH_SECRET,
    accessTtlSeconds: config.JWT_EXPIRY,
    refreshTtlSeconds: config.JWT_REFRESH_EXPIRY,
  });
  const users = new UsersRepo(db);
  const tokens = new TokensRepo(db);
  const identities = new IdentitiesRepo(db);
  const knownAddresses = new KnownAddressesRepo(db);
  const revocations = new RevocationCache(
    {
      sessionState: (id) => users.sessionState(id),
      sessionStates: (limit) => users.sessionStates(limit),
      existing: (ids) => tokens.existing(ids),
      liveRevocations: () => tokens.liveRevocations(),
    },
    { ttlMs: config.AUTH_CACHE_SECONDS * 1000, followedTtlMs: STANDINGS_REFRESH_SECONDS * 1000, preloadLimit: SESSION_STATE_PRELOAD_LIMIT },
  );
  const csrf = new CsrfTokens(config.JWT_SECRET);
  const hasher = new PasswordHasher(config.BCRYPT_COST);
  const sessions = new SessionService({ signer, tokens, users, revocations, csrf, realtime, logger, reuseGraceSeconds: config.REFRESH_REUSE_GRACE_SECONDS });
  const usersService = new UsersService({ users, avatars: new AvatarsRepo(db), hasher, sessions, presence });
  const rateLimits = new RateLimits(db, logger.child({ component: 'rate-limit' }));
  const limits = Object.fromEntries(
    Object.entries(authLimitSettings(config)).map(([name, { setting, description }]) => [name, rateLimits.limit(name, setting, description)]),
  ) as unknown as AuthLimits;
  const auth = new AuthService({
    users,
    usersService,
    identities,
    tokens,
    sessions,
    signer,
    hasher,
    mailer: createMailer({ smtpUrl: config.SMTP_URL, from: config.SMTP_FROM }, logger),
    limits,
    knownAddresses,
    logger,
    resetUrl: config.PASSWORD_RESET_URL ?? `${config.PUBLIC_URL.replace(/\/$/, '')}/reset-password`,
  });
  return {
    signer,
    hasher,
    rateLimits,
    users,
    tokens,
    knownAddresses,
    revocations,
    csrf,
    sessions,
    usersService,
    auth,
    authenticator: new JwtAuthenticator(signer, revocations),
    oauth: new OAuthFlow(config, csrf),
  };
}

export type Accounts = ReturnType<typeof createAccounts>;
