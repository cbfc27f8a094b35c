import type { Db } from 'mongodb';
import { RateLimiterMemory, RateLimiterMongo, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import { rateLimitedBy } from '../errors.js';
import type { Logger } from '../logger.js';

export interface RateLimitSetting {
  points: number;
  durationSeconds: number;
}

/** What a limit counts and which setting sets it: every 429 says both, and when to retry. */
export interface LimitDescription {
  /** The configuration variable, e.g. `RATE_LIMIT_LOGIN`. */
  variable: string;
  /** What is counted, as the start of a sentence: "Failed logins from this address". */
  counts: string;
}

/** One named limit: attempts per key (a client address, an account) within a window. */
export interface Limit {
  /** Counts an attempt; throws RATE_LIMITED (with Retry-After) once the key is over its limit. */
  consume(key: string): Promise<void>;
  /** Gives one attempt back (a login that succeeded does not count against the address). */
  refund(key: string): Promise<void>;
  /** Forgets the key (a successful login clears the account's failures). */
  reset(key: string): Promise<void>;
}

export type LimitStore = 'mongodb' | 'memory';

/**
 * Which store limits live in. MongoDB: rate-limiter-flexible's Mongo store, so limits survive
 * restarts and hold across several chatd processes. The embedded FerretDB 1.24: in memory. Its
 * Mongo store does not work correctly there, measured: the TTL index it creates is refused
 * ("expireAfterSeconds is not implemented yet"; expired keys would only be replaced on the next
 * hit, never removed), and, worse, FerretDB's `findOneAndUpdate` with `$inc` is not atomic, so 10
 * parallel attempts on one key were counted as 7 and a burst would slip past the limit. Only one
 * process owns the embedded database, so memory is exact there; it is lost on restart.
 */
export async function detectLimitStore(db: Db): Promise<LimitStore> {
  try {
    const info = await db.admin().command({ buildInfo: 1 });
    return 'ferretdbVersion' in info ? 'memory' : 'mongodb';
  } catch {
    return 'memory';
  }
}

/** Builds named limits on the detected store; the store is chosen on first use. */
export class RateLimits {
  private store: Promise<LimitStore> | undefined;

  constructor(
    private readonly db: Db,
    private readonly logger: Logger,
  ) {}

  /** A limit named `name` (the key prefix in the store). */
  limit(name: string, setting: RateLimitSetting, description: LimitDescription): Limit {
    let limiter: Promise<RateLimiterAbstract> | undefined;
    const get = () => (limiter ??= this.build(name, setting));
    return {
      consume: async (key) => {
        await (await get()).consume(key).catch((error: unknown) => {
          if (error instanceof RateLimiterRes) throw rateLimitedBy(setting, description, error.msBeforeNext / 1000);
          throw error;
        });
      },
      refund: async (key) => {
        await (await get()).reward(key, 1);
      },
      reset: async (key) => {
        await (await get()).delete(key);
      },
    };
  }

  private async build(name: string, setting: RateLimitSetting): Promise<RateLimiterAbstract> {
    this.store ??= detectLimitStore(this.db).then((store) => {
      this.logger.info({ store }, 'rate limits kept in ' + (store === 'memory' ? 'memory (embedded database)' : 'MongoDB'));
      return store;
    });
    const options = { keyPrefix: name, points: setting.points, duration: setting.durationSeconds };
    const memory = new RateLimiterMemory(options);
    if ((await this.store) === 'memory') return memory;
    // The memory limiter stands in while MongoDB is unreachable.
    return new RateLimiterMongo({ ...options, storeClient: this.db, tableName: 'rate_limits', insuranceLimiter: memory });
  }
}
