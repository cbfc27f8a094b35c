import type { ObjectId } from 'mongodb';
import type { SessionState } from '../users/repo.js';

export interface RevocationSources {
  sessionState(userId: ObjectId): Promise<SessionState | null>;
  /** Which of these revocation ids exist. */
  existing(ids: string[]): Promise<Set<string>>;
}

interface Entry<T> {
  value: Promise<T>;
  until: number;
}

const MAX_ENTRIES = 50_000;

/**
 * The authenticator's view of revocations, cached for a few seconds per user and per token id
 * because it runs on every REST request and WebSocket authentication. This process's own
 * revocations (logout, password change, disable) update it at once; another process's (the
 * `chatd admin` CLI, a second node) are seen within the TTL.
 */
/** What the cache keeps of a user: the fields the authenticator reads, without the document's ObjectId. */
export type CachedSessionState = Pick<SessionState, 'role' | 'disabled' | 'sessionsValidAfter'>;

export class RevocationCache {
  private readonly users = new Map<string, Entry<CachedSessionState | null>>();
  private readonly revoked = new Map<string, Entry<boolean>>();
  private sweptAt = 0;

  constructor(
    private readonly sources: RevocationSources,
    private readonly ttlMs: number,
  ) {}

  /** The user's session state, from the cache when fresh; concurrent misses share one query. */
  sessionState(userId: ObjectId): Promise<CachedSessionState | null> {
    // A driver ObjectId keeps an 8 KiB buffer slab alive; ten thousand cached users would pin megabytes.
    const load = () => this.sources.sessionState(userId).then((state) => state && { role: state.role, disabled: state.disabled, sessionsValidAfter: state.sessionsValidAfter });
    return this.cached(this.users, userId.toHexString(), load);
  }

  /** Whether any of these revocation ids (revoked access token, revoked family) exists. */
  async anyRevoked(ids: string[]): Promise<boolean> {
    const now = Date.now();
    const missing = ids.filter((id) => {
      const entry = this.revoked.get(id);
      return !entry || entry.until <= now;
    });
    if (missing.length > 0) {
      const lookup = this.sources.existing(missing);
      for (const id of missing) this.store(this.revoked, id, lookup.then((found) => found.has(id)));
    }
    const results = await Promise.all(ids.map((id) => this.revoked.get(id)!.value));
    return results.some(Boolean);
  }

  /** Records a revocation made by this process, so it applies before the cache would expire. */
  markRevoked(id: string): void {
    this.store(this.revoked, id, Promise.resolve(true));
  }

  /** Forgets a user's cached state after this process changed it. */
  forgetUser(userId: string): void {
    this.users.delete(userId);
  }

  private cached<T>(map: Map<string, Entry<T>>, key: string, load: () => Promise<T>): Promise<T> {
    const entry = map.get(key);
    if (entry && entry.until > Date.now()) return entry.value;
    return this.store(map, key, load());
  }

  private store<T>(map: Map<string, Entry<T>>, key: string, value: Promise<T>): Promise<T> {
    const now = Date.now();
    // Expired entries go once per TTL, so a burst of logins does not stay in memory afterwards.
    if (now - this.sweptAt >= this.ttlMs) {
      this.sweptAt = now;
      this.prune(this.users);
      this.prune(this.revoked);
    }
    if (map.size >= MAX_ENTRIES) this.prune(map);
    const entry = { value, until: now + this.ttlMs };
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
    if (map.size >= MAX_ENTRIES) map.clear();
  }
}
