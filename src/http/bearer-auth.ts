import { Forbidden, Unauthorized } from '../errors.js';
import { ACCESS_COOKIE, CSRF_COOKIE } from '../modules/auth/cookies.js';
import type { Authenticator } from '../modules/auth/principal.js';
import type { ChatdMiddleware } from './context.js';

const safeMethods = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * Requires an access token (Authorization: Bearer, or the access cookie) and puts the principal on
 * ctx.state. Cookie sessions must echo the CSRF cookie in X-CSRF-Token on unsafe methods, since a
 * browser attaches cookies to requests other sites make.
 */
export function requireAuth(authenticator: Authenticator): ChatdMiddleware {
  return async (ctx, next) => {
    const bearer = /^Bearer\s+(\S+)$/i.exec(ctx.get('Authorization'))?.[1];
    const cookie = bearer ? undefined : ctx.cookies.get(ACCESS_COOKIE);
    const token = bearer ?? cookie;
    if (!token) throw new Unauthorized('Send an access token: Authorization: Bearer <token>');
    ctx.state.principal = await authenticator.authenticate(token);
    ctx.state.authVia = bearer ? 'bearer' : 'cookie';
    if (!bearer && !safeMethods.has(ctx.method)) {
      const expected = ctx.cookies.get(CSRF_COOKIE);
      if (!expected || ctx.get('X-CSRF-Token') !== expected) throw new Forbidden('Missing or wrong X-CSRF-Token');
    }
    await next();
  };
}
