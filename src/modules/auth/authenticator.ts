import { Unauthorized } from '../../errors.js';
import { parseObjectId } from '../users/repo.js';
import type { Authenticator, Principal } from '../../core/principal.js';
import type { RevocationCache } from './revocation-cache.js';
import { tokenId } from './tokens-repo.js';
import { issuedBefore, type TokenSigner } from './tokens.js';

/**
 * Verifies an access token (signature, type, expiry) and then that it was not revoked: the user
 * exists and is enabled, the token is newer than the user's `sessionsValidAfter`, and neither the
 * token nor its refresh family was revoked. Both transports use it.
 */
export class JwtAuthenticator implements Authenticator {
  constructor(
    private readonly signer: TokenSigner,
    private readonly revocations: RevocationCache,
  ) {}

  async authenticate(token: string): Promise<Principal> {
    const claims = await this.signer.verify('access', token);
    const userId = parseObjectId(claims.sub);
    if (!userId) throw new Unauthorized('Invalid token');
    const ids = [tokenId.revokedAccess(claims.jti)];
    if (claims.fam) ids.push(tokenId.revokedFamily(claims.fam));
    const [state, revoked] = await Promise.all([this.revocations.sessionState(userId), this.revocations.anyRevoked(ids)]);
    if (!state) throw new Unauthorized('This account no longer exists');
    if (state.disabled) throw new Unauthorized('This account is disabled');
    if (revoked || issuedBefore(claims.iat, state.sessionsValidAfter)) throw new Unauthorized('Token revoked');
    return { userId: claims.sub, role: state.role, jti: claims.jti, expiresAt: claims.exp, issuedAt: claims.iat, family: claims.fam };
  }
}
