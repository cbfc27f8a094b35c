import { Unauthorized } from '../errors.js';

/** Cookie carrying the access token for browser clients (HTTP-only); REST and the hub both read it. */
export const ACCESS_COOKIE = 'chatd_access';

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

/** The access token a request presents, and how: cookie sessions need a CSRF check on unsafe REST calls. */
export interface PresentedToken {
  token: string;
  via: 'bearer' | 'cookie';
}

/**
 * The access token of a request (REST call or hub upgrade): `Authorization: Bearer <token>`, else
 * the access cookie. A malformed Authorization header is refused rather than ignored, so a client
 * that means to send a token never silently acts as whoever its cookie names.
 */
export function presentedToken(authorization: string | undefined, cookie: string | undefined): PresentedToken | undefined {
  if (authorization) {
    const match = /^Bearer\s+(\S+)$/i.exec(authorization);
    if (!match) throw new Unauthorized('Authorization must be "Bearer <accessToken>"');
    return { token: match[1]!, via: 'bearer' };
  }
  const token = cookie ? readCookie(cookie, ACCESS_COOKIE) : undefined;
  return token ? { token, via: 'cookie' } : undefined;
}
