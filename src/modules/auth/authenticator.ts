import type { Authenticator, Principal } from './principal.js';
import type { TokenSigner } from './tokens.js';

/** Verifies the access token's signature, type and expiry; the accounts module adds revocation. */
export class JwtAuthenticator implements Authenticator {
  constructor(private readonly signer: TokenSigner) {}

  async authenticate(token: string): Promise<Principal> {
    const claims = await this.signer.verify('access', token);
    return { userId: claims.sub, role: claims.role ?? 'user', jti: claims.jti, expiresAt: claims.exp, family: claims.fam };
  }
}
