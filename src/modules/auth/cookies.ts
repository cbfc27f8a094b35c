import { ACCESS_COOKIE } from '../../core/credentials.js';

/** Cookie carrying the refresh token, scoped to the auth endpoints. */
export const REFRESH_COOKIE = 'chatd_refresh';
/** Readable cookie holding the CSRF token that cookie-authenticated requests echo in X-CSRF-Token. */
export const CSRF_COOKIE = 'chatd_csrf';

/** Short-lived cookie binding an OAuth redirect to this browser: provider, state and PKCE verifier, signed. */
export const OAUTH_COOKIE = 'chatd_oauth';

/** Paths the cookies are sent to: the refresh token only to the auth endpoints that use it. */
export const cookiePaths = { access: '/', refresh: '/api/auth', csrf: '/', oauth: '/api/auth/oauth' } as const;

export interface CookieAttributes {
  maxAgeSeconds: number;
  path: string;
  httpOnly: boolean;
  secure: boolean;
}

/** One Set-Cookie value; SameSite=Lax keeps cross-site subrequests and form posts from carrying it. */
export function serializeCookie(name: string, value: string, attributes: CookieAttributes): string {
  const parts = [`${name}=${encodeURIComponent(value)}`, `Path=${attributes.path}`, `Max-Age=${Math.max(0, Math.floor(attributes.maxAgeSeconds))}`, 'SameSite=Lax'];
  if (attributes.maxAgeSeconds <= 0) parts.push('Expires=Thu, 01 Jan 1970 00:00:00 GMT');
  if (attributes.httpOnly) parts.push('HttpOnly');
  if (attributes.secure) parts.push('Secure');
  return parts.join('; ');
}

export interface SessionCookieValues {
  accessToken: string;
  refreshToken: string;
  csrfToken: string;
  accessExpiresAt: Date;
  refreshExpiresAt: Date;
}

const secondsUntil = (date: Date) => (date.getTime() - Date.now()) / 1000;

/** The three cookies of a browser session: access and refresh HTTP-only, CSRF readable by the page. */
export function sessionCookies(session: SessionCookieValues, secure: boolean): string[] {
  return [
    serializeCookie(ACCESS_COOKIE, session.accessToken, { path: cookiePaths.access, maxAgeSeconds: secondsUntil(session.accessExpiresAt), httpOnly: true, secure }),
    serializeCookie(REFRESH_COOKIE, session.refreshToken, { path: cookiePaths.refresh, maxAgeSeconds: secondsUntil(session.refreshExpiresAt), httpOnly: true, secure }),
    serializeCookie(CSRF_COOKIE, session.csrfToken, { path: cookiePaths.csrf, maxAgeSeconds: secondsUntil(session.refreshExpiresAt), httpOnly: false, secure }),
  ];
}

/** Set-Cookie values that delete the session cookies. */
export function clearedSessionCookies(secure: boolean): string[] {
  return [
    serializeCookie(ACCESS_COOKIE, '', { path: cookiePaths.access, maxAgeSeconds: 0, httpOnly: true, secure }),
    serializeCookie(REFRESH_COOKIE, '', { path: cookiePaths.refresh, maxAgeSeconds: 0, httpOnly: true, secure }),
    serializeCookie(CSRF_COOKIE, '', { path: cookiePaths.csrf, maxAgeSeconds: 0, httpOnly: false, secure }),
  ];
}
