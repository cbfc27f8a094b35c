import { randomUUID } from 'node:crypto';
import { createVerifier, TokenError } from 'fast-jwt';
import { createJWT } from 'oslo/jwt';
import { TimeSpan } from 'oslo';
import { Unauthorized } from '../../errors.js';

export type TokenType = 'access' | 'refresh';

export interface TokenClaims {
  typ: TokenType;
  /** User id. */
  sub: string;
  jti: string;
  exp: number;
  /** Issue time in seconds with millisecond fraction, so a revocation in the same second is ordered correctly. */
  iat: number;
  /** Refresh-token family (rotation chain) this token belongs to. */
  fam?: string;
  role?: 'user' | 'admin';
}

export interface SignedToken {
  token: string;
  jti: string;
  expiresAt: Date;
}

export interface TokenSettings {
  accessSecret: string;
  refreshSecret: string;
  accessTtlSeconds: number;
  refreshTtlSeconds: number;
}

const ISSUER = 'chatd';

/**
 * Whether a token issued at `iat` (seconds, with a millisecond fraction) predates `validAfter`.
 * Rounded to whole milliseconds: ms / 1000 * 1000 is not always ms again in floating point.
 */
export function issuedBefore(iat: number, validAfter: Date): boolean {
  return Math.round(iat * 1000) < validAfter.getTime();
}
const audience: Record<TokenType, string> = { access: 'chatd:access', refresh: 'chatd:refresh' };
const encoder = new TextEncoder();

/**
 * Signs and verifies chatd's JWTs: HS256 only, separate secrets per type, and the type checked
 * both in `typ` and in the audience so that one kind is never accepted as the other.
 */
export class TokenSigner {
  private readonly keys: Record<TokenType, Uint8Array>;
  /**
   * Synchronous HMAC through node:crypto: oslo's validateJWT imports the key and verifies through
   * WebCrypto on every call, a thread-pool job per token: a large share of the CPU when many
   * clients authenticate at once (figures in docs/benchmarks-profile.md). Pinned to HS256 (`none`,
   * RS256 and friends are refused before any key use), with the audience of the type and our issuer.
   */
  private readonly verifiers: Record<TokenType, (token: string) => Record<string, unknown>>;
  private readonly ttl: Record<TokenType, number>;
  readonly accessTtlSeconds: number;
  readonly refreshTtlSeconds: number;

  constructor(settings: TokenSettings) {
    this.keys = { access: encoder.encode(settings.accessSecret), refresh: encoder.encode(settings.refreshSecret) };
    const verifier = (type: TokenType) => createVerifier({ key: settings[`${type}Secret`], algorithms: ['HS256'], allowedAud: audience[type], allowedIss: ISSUER });
    this.verifiers = { access: verifier('access'), refresh: verifier('refresh') };
    this.ttl = { access: settings.accessTtlSeconds, refresh: settings.refreshTtlSeconds };
    this.accessTtlSeconds = settings.accessTtlSeconds;
    this.refreshTtlSeconds = settings.refreshTtlSeconds;
  }

  async sign(type: TokenType, subject: string, extra: { fam?: string; role?: 'user' | 'admin'; jti?: string } = {}): Promise<SignedToken> {
    const jti = extra.jti ?? randomUUID();
    const issuedAtMs = Date.now();
    // oslo's own `iat` is whole seconds; sessionsValidAfter has milliseconds, and a session
    // started in the same second as a password change must survive it while older ones must not.
    const claims: Record<string, unknown> = { typ: type, iat: issuedAtMs / 1000 };
    if (extra.fam) claims.fam = extra.fam;
    if (extra.role) claims.role = extra.role;
    const token = await createJWT('HS256', this.keys[type], claims, {
      subject,
      issuer: ISSUER,
      audiences: [audience[type]],
      jwtId: jti,
      expiresIn: new TimeSpan(this.ttl[type], 's'),
    });
    return { token, jti, expiresAt: new Date((Math.floor(issuedAtMs / 1000) + this.ttl[type]) * 1000) };
  }

  /** The token's claims if it is a well-formed, unexpired `type` token signed by us; Unauthorized otherwise. */
  async verify(type: TokenType, token: string): Promise<TokenClaims> {
    if (typeof token !== 'string' || token.length > 4096) throw new Unauthorized('Invalid token');
    let payload: Record<string, unknown>;
    try {
      payload = this.verifiers[type](token);
    } catch (error) {
      throw new Unauthorized(error instanceof TokenError && error.code === TokenError.codes.expired ? 'Token expired' : 'Invalid token');
    }
    const aud = payload.aud;
    const audiences = Array.isArray(aud) ? aud : [aud];
    if (
      payload.typ !== type ||
      !audiences.includes(audience[type]) ||
      payload.iss !== ISSUER ||
      typeof payload.sub !== 'string' ||
      typeof payload.jti !== 'string' ||
      typeof payload.exp !== 'number' ||
      typeof payload.iat !== 'number' ||
      (payload.fam !== undefined && typeof payload.fam !== 'string') ||
      (payload.role !== undefined && payload.role !== 'user' && payload.role !== 'admin')
    ) {
      throw new Unauthorized('Invalid token');
    }
    return payload as unknown as TokenClaims;
  }
}
