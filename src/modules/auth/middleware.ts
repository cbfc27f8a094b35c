import { presentedToken } from '../../core/credentials.js';
import type { Authenticator, Principal } from '../../core/principal.js';
import { Forbidden, Unauthorized } from '../../errors.js';
import type { ChatdContext, ChatdMiddleware } from '../../http/context.js';
import type { CsrfTokens } from './csrf.js';

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

export interface AuthMiddlewareDeps {
  authenticator: Authenticator;
  csrf: CsrfTokens;
  allowedOrigins: string[];
}

/**
 * Cookie sessions are exposed to cross-site requests the browser makes on its own, so an unsafe
 * method must come from an allowed Origin (when the browser says) and echo the session's CSRF token.
 * Bearer clients send their token deliberately and are not checked.
 */
export function checkCsrf(ctx: ChatdContext, deps: Pick<AuthMiddlewareDeps, 'csrf' | 'allowedOrigins'>, session: string): void {
  if (SAFE_METHODS.has(ctx.method)) return;
  const origin = ctx.get('origin');
  if (origin && !deps.allowedOrigins.includes('*') && !deps.allowedOrigins.includes(origin)) throw new Forbidden(`Origin ${origin} may not use this session`);
  if (ctx.get('sec-fetch-site') === 'cross-site' && !origin) throw new Forbidden('Cross-site request refused');
  if (!deps.csrf.matches(session, ctx.get('x-csrf-token') || undefined)) {
    throw new Forbidden('Missing or wrong X-CSRF-Token: cookie sessions must echo the chatd_csrf cookie in this header');
  }
}

/** Requires an access token (Authorization: Bearer, or the access cookie plus CSRF) and sets ctx.state.principal. */
export function requireAuth(deps: AuthMiddlewareDeps): ChatdMiddleware {
  return async (ctx, next) => {
    const presented = presentedToken(ctx.get('authorization'), ctx.get('cookie'));
    if (!presented) throw new Unauthorized('Authentication required: send Authorization: Bearer <accessToken>');
    const principal: Principal = await deps.authenticator.authenticate(presented.token);
    if (presented.via === 'cookie') checkCsrf(ctx, deps, principal.family ?? principal.jti);
    ctx.state.principal = principal;
    ctx.state.authVia = presented.via;
    await next();
  };
}

/** Requires the authenticated caller to be an administrator (after requireAuth). */
export const requireAdmin: ChatdMiddleware = async (ctx, next) => {
  if (ctx.state.principal?.role !== 'admin') throw new Forbidden('Administrators only');
  await next();
};

/** The caller, for handlers behind requireAuth. */
export function principalOf(ctx: ChatdContext): Principal {
  const principal = ctx.state.principal;
  if (!principal) throw new Unauthorized();
  return principal;
}
