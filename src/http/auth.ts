import { timingSafeEqual } from 'node:crypto';
import { Forbidden, Unauthorized } from '../errors.js';
import { ACCESS_COOKIE, CSRF_COOKIE, readCookie } from '../modules/auth/cookies.js';
import type { Authenticator } from '../modules/auth/principal.js';
import type { ChatdMiddleware } from './context.js';

const safeMethods = new Set(['GET', 'HEAD', 'OPTIONS']);

function sameToken(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

/**
 * Requires an access token: `Authorization: Bearer` for API clients, the access cookie for
 * browsers (which also load files through <img>). A cookie is sent by the browser on its own, so
 * unsafe methods authenticated by it must echo the CSRF cookie in X-CSRF-Token.
 */
export function requireAuth(authenticator: Authenticator): ChatdMiddleware {
  return async (ctx, next) => {
    const header = /^Bearer\s+(\S+)$/i.exec(ctx.get('authorization'))?.[1];
    const cookie = header ? undefined : readCookie(ctx.get('cookie'), ACCESS_COOKIE);
    const token = header ?? cookie;
    if (!token) throw new Unauthorized('Send an access token: Authorization: Bearer <token>');
    ctx.state.principal = await authenticator.authenticate(token);
    ctx.state.authVia = header ? 'bearer' : 'cookie';
    if (!header && !safeMethods.has(ctx.method)) {
      const expected = readCookie(ctx.get('cookie'), CSRF_COOKIE);
      const sent = ctx.get('x-csrf-token');
      if (!expected || !sent || !sameToken(expected, sent)) throw new Forbidden('Missing or wrong X-CSRF-Token for a cookie session');
    }
    await next();
  };
}
