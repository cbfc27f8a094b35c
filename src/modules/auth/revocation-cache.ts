import type { ObjectId } from 'mongodb';
import type { SessionState } from '../users/repo.js';

export interface RevocationSources {
  sessionState(userId: ObjectId): Promise<SessionState | null>;
  /** Every user's session state, or undefined when there are more than `limit` users. */
  sessionStates(limit: number): Promise<SessionState[] | undefined>;
  /** Which of these revocation ids exist. */
  existing(ids: string[]): Promise<Set<string>>;
  /** Every revocation id that has not expired, with its expiry. */
  liveRevocations(): Promise<Array<{ id: string; expiresAt: Date }>>;
}

interface Entry<T> {
  value: Promise<T>;
  until: number;
}

/** What the cache keeps of a user: the fields the authenticator reads, without the document's ObjectId. */
export type CachedSessionState = Pick<SessionState, 'role' | 'disabled' | 'sessionsValidAfter'>;

export interface RevocationCacheOptions {
  /**
   * How long an answer is trusted before the preload: until then nothing tells this process of
   * another process's changes but the database.
   */
  ttlMs: number;
  /**
   * Once the change log is followed: how often every standing is read again, and how long a state
   * read on demand is trusted. A safety net, not the mechanism.
   */
  followedTtlMs: number;
  /** Users read at start-up at most; with more, states are read on demand. */
  preloadLimit: number;
}

// Enough for every preloaded user, and a bound when they are read on demand.
const headroom = 1.25;

/**
 * The authenticator's view of revocations. It runs on every REST request and WebSocket
 * authentication, so after `preload` it answers from memory: every user's session state and
 * every live revocation id are read once, this process's own changes (logout, password change,
 * disable, role) update it at once, and another process's (`chatd admin`) reach it through the
 * change log the session re-check job follows (`forgetUser`). Before the preload, and for users it
 * could not keep, answers are read from the database and cached for `ttlMs`.
 */
export class RevocationCache {
  private readonly users = new Map<string, Entry<CachedSessionState | null>>();
  private readonly revoked = new Map<string, Entry<boolean>>();
  /** Every live revocation id with its expiry (ms), once the preload read them. */
  private live: Map<string, number> | undefined;
  /** This process's revocations before `live` exists, with their expiry (ms). */
  private readonly marks = new Map<string, number>();
  private followed = false;
  /** Whether the last full read held every user; if not, a refresh reads only the revocations. */
  private usersFit = true;
  /** Reads of every standing in flight, and the users changed meanwhile (their read value is stale). */
  private reading = 0;
  private readonly changedWhileReading = new Set<string>();
  /** The start-up read while it runs. */
  private loading: Promise<unknown> | undefined;
  private sweptAt = 0;
  private readonly maxEntries: number;

  constructor(
    private readonly sources: RevocationSources,
    private readonly options: RevocationCacheOptions,
  ) {
    this.maxEntries = Math.max(50_000, Math.ceil(options.preloadLimit * headroom));
  }

  /**
   * Reads every user's session state (when they fit) and every live revocation id. Call once the
   * change log is followed from a moment before this call, so no change falls between the two.
   */
  preload(): Promise<{ users: number | undefined; revocations: number }> {
    const loading = this.read().finally(() => {
      this.loading = undefined;
    });
    this.loading = loading;
    return loading;
  }

  /**
   * Reads every standing and live revocation again, the safety net beside the change log: while
   * every user fits, their entries never lapse one by one (a reconnect storm an hour after start
   * would otherwise read each user again), they are replaced by this one read. Call it from the
   * job that follows the log, between two looks at it.
   */
  refresh(): Promise<{ users: number | undefined; revocations: number }> {
    return this.read();
  }

  private async read(): Promise<{ users: number | undefined; revocations: number }> {
    this.reading += 1;
    try {
      const [states, revocations] = await Promise.all([
        this.usersFit ? this.sources.sessionStates(this.options.preloadLimit) : undefined,
        this.sources.liveRevocations(),
      ]);
      this.followed = true;
      this.usersFit = states !== undefined;
      // Two refresh periods: a refresh that fails lets the entries lapse to reads on demand.
      const until = Date.now() + 2 * this.options.followedTtlMs;
      for (const state of states ?? []) {
        const id = state._id.toHexString();
        // A user this process changed while the read ran is newer than what the read saw.
        if (!this.changedWhileReading.has(id)) this.users.set(id, { value: Promise.resolve(slim(state)), until });
      }
      const live = this.live ?? new Map<string, number>();
      for (const { id, expiresAt } of revocations) live.set(id, Math.max(live.get(id) ?? 0, expiresAt.getTime()));
      // Revocations this process made before the first read are kept.
      for (const [id, expiresAt] of this.marks) live.set(id, Math.max(live.get(id) ?? 0, expiresAt));
      this.live = live;
      this.marks.clear();
      this.revoked.clear();
      return { users: states?.length, revocations: live.size };
    } finally {
      this.reading -= 1;
      if (this.reading === 0) this.changedWhileReading.clear();
    }
  }

  /** The user's session state, from the cache when fresh; concurrent misses share one query. */
  sessionState(userId: ObjectId): Promise<CachedSessionState | null> {
    // Clients reconnecting while the start-up read runs wait for it rather than each read their user.
    if (this.loading) return this.afterLoading(() => this.sessionState(userId));
    // A driver ObjectId keeps an 8 KiB buffer slab alive; ten thousand cached users would pin megabytes.
    const load = () => this.sources.sessionState(userId).then((state) => state && slim(state));
    return this.cached(this.users, userId.toHexString(), load, this.followed ? this.options.followedTtlMs : this.options.ttlMs);
  }

  /** Whether any of these revocation ids (revoked access token, revoked family) exists. */
  async anyRevoked(ids: string[]): Promise<boolean> {
    if (this.loading) return this.afterLoading(() => this.anyRevoked(ids));
    const now = Date.now();
    if (this.live) return ids.some((id) => (this.live!.get(id) ?? 0) > now);
    const missing = ids.filter((id) => {
      const entry = this.revoked.get(id);
      return !entry || entry.until <= now;
    });
    if (missing.length > 0) {
      const lookup = this.sources.existing(missing);
      for (const id of missing) this.store(this.revoked, id, lookup.then((found) => found.has(id)), this.options.ttlMs);
    }
    const results = await Promise.all(ids.map((id) => this.revoked.get(id)!.value));
    return results.some(Boolean);
  }

  /** Records a revocation made by this process, so it applies at once; it lapses with the token. */
  markRevoked(id: string, expiresAt: Date): void {
    if (this.live) {
      this.live.set(id, Math.max(this.live.get(id) ?? 0, expiresAt.getTime()));
      this.sweepLive();
    } else {
      this.marks.set(id, Math.max(this.marks.get(id) ?? 0, expiresAt.getTime()));
      this.store(this.revoked, id, Promise.resolve(true), Math.max(this.options.ttlMs, expiresAt.getTime() - Date.now()));
    }
  }

  /** Forgets a user's cached state after this process, or another one through the change log, changed it. */
  forgetUser(userId: string): void {
    this.users.delete(userId);
    if (this.reading > 0) this.changedWhileReading.add(userId);
  }

  private afterLoading<T>(answer: () => Promise<T>): Promise<T> {
    // A failed start-up read leaves the answers to the database, as before it.
    return this.loading!.then(answer, answer);
  }

  private cached<T>(map: Map<string, Entry<T>>, key: string, load: () => Promise<T>, ttlMs: number): Promise<T> {
    const entry = map.get(key);
    if (entry && entry.until > Date.now()) return entry.value;
    return this.store(map, key, load(), ttlMs);
  }

  private store<T>(map: Map<string, Entry<T>>, key: string, value: Promise<T>, ttlMs: number): Promise<T> {
    const now = Date.now();
    // Expired entries go once per TTL, so a burst of logins does not stay in memory afterwards.
    if (now - this.sweptAt >= this.options.ttlMs) {
      this.sweptAt = now;
      this.prune(this.users);
      this.prune(this.revoked);
    }
    if (map.size >= this.maxEntries) this.prune(map);
    const entry = { value, until: now + ttlMs };
    map.set(key, entry);
    // A failed lookup must not be served from the cache.
    value.catch(() => {
      if (map.get(key) === entry) map.delete(key);
    });
    return value;
  }

  private prune<T>(map: Map<string, Entry<T>>): void {
    const now = Date.now();
    for (const [key, entry] of map) if (entry.until <= now) map.delete(key);
    if (map.size >= this.maxEntries) map.clear();
  }

  private sweepLive(): void {
    const now = Date.now();
    if (now - this.sweptAt < this.options.ttlMs) return;
    this.sweptAt = now;
    for (const [id, expiresAt] of this.live!) if (expiresAt <= now) this.live!.delete(id);
  }
}

function slim(state: SessionState): CachedSessionState {
  return { role: state.role, disabled: state.disabled, sessionsValidAfter: state.sessionsValidAfter };
}
