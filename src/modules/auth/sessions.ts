import { randomUUID } from 'node:crypto';
import type { ObjectId } from 'mongodb';
import { Unauthorized } from '../../errors.js';
import type { Logger } from '../../logger.js';
import type { RealtimePublisher } from '../../realtime/publisher.js';
import { parseObjectId, type UsersRepo } from '../users/repo.js';
import type { UserRole } from '../users/types.js';
import type { CsrfTokens } from './csrf.js';
import type { Principal } from '../../core/principal.js';
import type { RevocationCache } from './revocation-cache.js';
import { tokenId, type TokensRepo } from './tokens-repo.js';
import { issuedBefore, type TokenClaims, type TokenSigner } from './tokens.js';

/** WebSocket close code for a revoked session (policy violation). */
export const REVOKED_CLOSE_CODE = 1008;

/** A freshly issued token pair and what the cookies need. */
export interface Session {
  userId: string;
  family: string;
  accessToken: string;
  refreshToken: string;
  accessExpiresAt: Date;
  refreshExpiresAt: Date;
  /** The refresh token's id (its entry in `tokens`); never sent to the client. */
  refreshJti: string;
  csrfToken: string;
}

export interface SessionDeps {
  signer: TokenSigner;
  tokens: TokensRepo;
  users: UsersRepo;
  revocations: RevocationCache;
  csrf: CsrfTokens;
  realtime: RealtimePublisher;
  logger: Logger;
  /** How long a rotated refresh token still yields the pair it was exchanged for (see `rotate`). */
  reuseGraceSeconds: number;
}

/** A rotation a refresh token already went through, kept for the reuse grace. */
interface RecentRotation {
  result: Promise<Session>;
  until: number;
  /** The refresh token id the rotation issued: once that one is rotated in turn, the grace ends. */
  successorJti?: string;
}

/**
 * Sessions are refresh-token families. Every refresh rotates: the presented token is consumed and
 * a new pair is issued in the same family. A refresh token presented a second time means it was
 * copied, so the whole family is revoked, including the newest token the legitimate holder got.
 *
 * The ordering below keeps that true under concurrency with only the two operations the embedded
 * database performs atomically (an insert under a unique id, a deleteOne's count): rotation
 * consumes the old token, stores the new one, and only then re-reads the revocations; revocation
 * writes its marker first and deletes the family's tokens after. Whatever the interleaving, either
 * the rotation sees the marker or the revocation deletes the new token.
 *
 * Reuse grace: two tabs of one browser share the refresh cookie and often refresh together (both
 * wake from sleep, both load at once). A token presented again within `reuseGraceSeconds` of its
 * rotation, and before the pair it was exchanged for has itself been rotated, gets that same pair
 * instead of revoking the session. Anything later is reuse. The grace is this process's memory:
 * chatd serves a data directory from one process.
 */
export class SessionService {
  private readonly log: Logger;
  /** Rotations within their grace, by the rotated refresh token's id. */
  private readonly recent = new Map<string, RecentRotation>();
  /** Successor refresh token id → the token id it replaced, to end that grace on the successor's use. */
  private readonly predecessors = new Map<string, string>();

  constructor(private readonly deps: SessionDeps) {
    this.log = deps.logger.child({ component: 'sessions' });
  }

  /** Starts a new session (login, register, OAuth, password change) for a user. */
  async start(userId: ObjectId, role: UserRole): Promise<Session> {
    const session = await this.sign(userId.toHexString(), role, randomUUID());
    await this.store(session);
    return session;
  }

  /**
   * Exchanges a refresh token for a new pair; a reused token revokes its family, except within the
   * reuse grace, where it gets the pair its first use got.
   */
  async rotate(refreshToken: string): Promise<Session> {
    const claims = await this.deps.signer.verify('refresh', refreshToken);
    const family = claims.fam;
    if (!family) throw new Unauthorized('Invalid token');
    this.endGraceOfPredecessor(claims.jti);
    const recent = this.recent.get(claims.jti);
    if (recent && recent.until > Date.now()) return this.withinGrace(recent.result, family);
    const rotation: RecentRotation = { result: this.rotateOnce(claims, family), until: Date.now() + this.deps.reuseGraceSeconds * 1000 };
    this.remember(claims.jti, rotation);
    try {
      const session = await rotation.result;
      rotation.successorJti = session.refreshJti;
      this.predecessors.set(session.refreshJti, claims.jti);
      return session;
    } catch (error) {
      this.forget(claims.jti);
      throw error;
    }
  }

  /** The pair of a rotation still within its grace, unless the session was revoked since. */
  private async withinGrace(result: Promise<Session>, family: string): Promise<Session> {
    const session = await result;
    const revoked = await this.deps.tokens.existing([tokenId.revokedFamily(family)]);
    if (revoked.size > 0) throw new Unauthorized('Session revoked, log in again');
    return session;
  }

  private remember(jti: string, rotation: RecentRotation): void {
    const now = Date.now();
    // Expired entries are dropped as new ones come, so the maps stay as small as the grace window.
    for (const [id, entry] of this.recent) {
      if (entry.until > now) break;
      this.forget(id);
    }
    this.recent.set(jti, rotation);
  }

  private forget(jti: string): void {
    const entry = this.recent.get(jti);
    this.recent.delete(jti);
    if (entry?.successorJti) this.predecessors.delete(entry.successorJti);
  }

  private endGraceOfPredecessor(jti: string): void {
    const predecessor = this.predecessors.get(jti);
    if (predecessor !== undefined) this.forget(predecessor);
  }

  private async rotateOnce(claims: TokenClaims, family: string): Promise<Session> {
    const userId = claims.sub;
    if (!(await this.deps.tokens.take(tokenId.refresh(claims.jti)))) {
      // Signed by us and unexpired but no longer stored: used before, or its session was revoked.
      await this.revokeFamily(family, userId, 'refresh token reuse');
      this.log.warn({ userId, family }, 'refresh token presented twice: session revoked');
      throw new Unauthorized('Refresh token already used; the session was revoked, log in again');
    }
    const state = await this.deps.users.sessionState(this.objectId(userId));
    const next = await this.sign(userId, state?.role ?? 'user', family);
    await this.store(next);
    // Re-read after storing the new token: a revocation that started meanwhile is seen here, or it
    // runs after and deletes the new token itself.
    const [fresh, revoked] = await Promise.all([
      this.deps.users.sessionState(this.objectId(userId)),
      this.deps.tokens.existing([tokenId.revokedFamily(family)]),
    ]);
    if (!fresh || fresh.disabled || revoked.size > 0 || issuedBefore(claims.iat, fresh.sessionsValidAfter)) {
      await this.deps.tokens.take(tokenId.refresh(next.refreshJti));
      throw new Unauthorized(fresh?.disabled ? 'This account is disabled' : 'Session revoked, log in again');
    }
    return next;
  }

  /** Ends the caller's session: the access token and its whole refresh family. */
  async end(principal: Principal, refreshClaims?: TokenClaims): Promise<void> {
    await this.deps.tokens.insert({
      _id: tokenId.revokedAccess(principal.jti),
      kind: 'revoked-access',
      userId: this.objectId(principal.userId),
      expiresAt: new Date(principal.expiresAt * 1000),
    });
    this.deps.revocations.markRevoked(tokenId.revokedAccess(principal.jti), new Date(principal.expiresAt * 1000));
    const families = new Set([principal.family, refreshClaims?.sub === principal.userId ? refreshClaims.fam : undefined]);
    for (const family of families) if (family) await this.revokeFamily(family, principal.userId, 'logged out');
    this.deps.realtime.disconnect((socket) => socket.principal?.jti === principal.jti, REVOKED_CLOSE_CODE, 'logged out');
  }

  /**
   * Revokes every session of a user; call after moving the user's `sessionsValidAfter` (password
   * change or reset, disable), which already stops every older token.
   */
  async revokeAll(userId: ObjectId, reason: string): Promise<void> {
    const id = userId.toHexString();
    this.deps.revocations.forgetUser(id);
    for (const family of await this.deps.tokens.familiesOf(userId)) await this.revokeFamily(family, id, reason);
    const state = await this.deps.users.sessionState(userId);
    this.deps.realtime.disconnect(
      (socket) => socket.principal?.userId === id && (!state || state.disabled || issuedBefore(socket.principal.issuedAt, state.sessionsValidAfter)),
      REVOKED_CLOSE_CODE,
      reason,
    );
  }

  /** Drops the cached standing (role, disabled) of a user this process just changed. */
  standingChanged(userId: ObjectId): void {
    this.deps.revocations.forgetUser(userId.toHexString());
  }

  /** Revokes one refresh family: its refresh tokens and every access token issued with it. */
  async revokeFamily(family: string, userId: string, reason: string): Promise<void> {
    const markerId = tokenId.revokedFamily(family);
    // No token of the family outlives this: access tokens expire sooner than refresh tokens.
    const expiresAt = new Date(Date.now() + this.deps.signer.refreshTtlSeconds * 1000);
    await this.deps.tokens.insert({ _id: markerId, kind: 'revoked-family', userId: this.objectId(userId), family, expiresAt });
    this.deps.revocations.markRevoked(markerId, expiresAt);
    await this.deps.tokens.deleteFamily(family);
    this.deps.realtime.disconnect((socket) => socket.principal?.family === family, REVOKED_CLOSE_CODE, reason);
  }

  private async sign(userId: string, role: UserRole, family: string): Promise<Session> {
    const [access, refresh] = await Promise.all([
      this.deps.signer.sign('access', userId, { fam: family, role }),
      this.deps.signer.sign('refresh', userId, { fam: family }),
    ]);
    return {
      userId,
      family,
      accessToken: access.token,
      refreshToken: refresh.token,
      accessExpiresAt: access.expiresAt,
      refreshExpiresAt: refresh.expiresAt,
      refreshJti: refresh.jti,
      csrfToken: this.deps.csrf.tokenFor(family),
    };
  }

  private async store(session: Session): Promise<void> {
    await this.deps.tokens.insert({
      _id: tokenId.refresh(session.refreshJti),
      kind: 'refresh',
      userId: this.objectId(session.userId),
      family: session.family,
      expiresAt: session.refreshExpiresAt,
    });
  }

  private objectId(id: string): ObjectId {
    const parsed = parseObjectId(id);
    if (!parsed) throw new Unauthorized('Invalid token');
    return parsed;
  }
}
