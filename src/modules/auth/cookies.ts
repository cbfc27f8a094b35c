/** Cookie carrying the access token for browser clients (HTTP-only). */
export const ACCESS_COOKIE = 'chatd_access';
/** Cookie carrying the refresh token, scoped to the auth endpoints. */
export const REFRESH_COOKIE = 'chatd_refresh';
/** Readable cookie holding the CSRF token that cookie-authenticated requests echo in X-CSRF-Token. */
export const CSRF_COOKIE = 'chatd_csrf';

/** The value of one cookie from a Cookie header, without parsing the rest. */
export function readCookie(header: string, name: string): string | undefined {
  for (const part of header.split(';')) {
    const index = part.indexOf('=');
    if (index > 0 && part.slice(0, index).trim() === name) {
      try {
        return decodeURIComponent(part.slice(index + 1).trim());
      } catch {
        return undefined;
      }
    }
  }
  return undefined;
}
