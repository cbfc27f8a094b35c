import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * CSRF tokens for cookie sessions: an HMAC of the session's refresh family, so the token is bound
 * to the session (a cookie planted from a sibling subdomain does not match) and needs no storage.
 * The browser reads it from the CSRF cookie and echoes it in X-CSRF-Token.
 */
export class CsrfTokens {
  private readonly key: Buffer;

  constructor(secret: string) {
    this.key = createHmac('sha256', secret).update('chatd csrf v1').digest();
  }

  /** The token for a session (its refresh family, or the access token's id for tokens without one). */
  tokenFor(session: string): string {
    return createHmac('sha256', this.key).update(session).digest('base64url');
  }

  matches(session: string, presented: string | undefined): boolean {
    if (!presented) return false;
    const expected = Buffer.from(this.tokenFor(session));
    const given = Buffer.from(presented);
    return given.length === expected.length && timingSafeEqual(given, expected);
  }

  /** An HMAC over arbitrary text with the same key (signs the OAuth state cookie). */
  sign(text: string): string {
    return createHmac('sha256', this.key).update(`sign:${text}`).digest('base64url');
  }

  verifySigned(text: string, signature: string): boolean {
    const expected = Buffer.from(this.sign(text));
    const given = Buffer.from(signature);
    return given.length === expected.length && timingSafeEqual(given, expected);
  }
}
