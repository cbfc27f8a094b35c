/** An authenticated caller, as both transports see it after verifying an access token. */
export interface Principal {
  userId: string;
  /** The role stored on the user now (not the one in the token), so a demotion applies at once. */
  role: 'user' | 'admin';
  /** The access token's id, for revocation on logout. */
  jti: string;
  /** The access token's expiry (seconds since the epoch). */
  expiresAt: number;
  /** When the access token was issued (seconds since the epoch, with milliseconds). */
  issuedAt: number;
  /** The refresh family the token was issued with, if any (logout revokes it). */
  family?: string;
}

/** Verifies an access token and says who presented it; throws Unauthorized otherwise. */
export interface Authenticator {
  authenticate(token: string): Promise<Principal>;
}
