import Router from '@koa/router';
import { ObjectId } from 'mongodb';
import { readCookie } from '../../core/credentials.js';
import { AppError, Unauthorized } from '../../errors.js';
import type { ChatdContext, ChatdState } from '../../http/context.js';
import { input, validate } from '../../http/validate.js';
import { presentAuthUser, presentSelf } from '../users/presenter.js';
import { ProfileUpdate, TargetUserParams } from '../users/schemas.js';
import type { UsersService } from '../users/service.js';
import { clearedSessionCookies, cookiePaths, OAUTH_COOKIE, REFRESH_COOKIE, serializeCookie, sessionCookies } from './cookies.js';
import { checkCsrf, principalOf, requireAuth, type AuthMiddlewareDeps } from './middleware.js';
import type { OAuthFlow } from './oauth.js';
import {
  ForgotPasswordBody,
  LoginBody,
  LogoutBody,
  OAuthCallbackQuery,
  OAuthParams,
  PasswordChangeBody,
  RefreshBody,
  RegisterBody,
  ResetPasswordBody,
} from './schemas.js';
import type { AuthService } from './service.js';
import type { Session } from './sessions.js';
import type { TokenSigner } from './tokens.js';

export interface AuthRoutesDeps extends AuthMiddlewareDeps {
  auth: AuthService;
  usersService: UsersService;
  oauth: OAuthFlow;
  signer: TokenSigner;
  /** Secure cookies: PUBLIC_URL is https://. */
  secureCookies: boolean;
  /** Where browsers land after OAuth; unset: the callback answers JSON. */
  oauthSuccessUrl: string | undefined;
  /** The web app's OAuth landing page, when it is served: browsers go there, with `?error=` on failure. */
  webLanding: string | undefined;
}

const tokensOf = (session: Session) => ({ accessToken: session.accessToken, refreshToken: session.refreshToken });

/** The spec's accounts API under /api/auth: paths and answers exactly as its clients call them. */
export function authRoutes(deps: AuthRoutesDeps): Router<ChatdState> {
  const router = new Router<ChatdState>({ prefix: '/api/auth' });
  const auth = requireAuth(deps);
  const setSession = (ctx: ChatdContext, session: Session) => ctx.append('Set-Cookie', sessionCookies(session, deps.secureCookies));
  const self = (ctx: ChatdContext) => new ObjectId(principalOf(ctx).userId);

  /** The refresh token from the body, else from the cookie (then the request must pass the CSRF check). */
  const refreshTokenOf = async (ctx: ChatdContext, body: { refreshToken?: string }): Promise<string | undefined> => {
    if (body.refreshToken) return body.refreshToken;
    const fromCookie = readCookie(ctx.get('cookie'), REFRESH_COOKIE);
    if (!fromCookie) return undefined;
    const claims = await deps.signer.verify('refresh', fromCookie);
    checkCsrf(ctx, deps, claims.fam ?? claims.jti);
    return fromCookie;
  };

  router.post('/register', validate({ body: RegisterBody }), async (ctx) => {
    const { user, session } = await deps.auth.register(input<RegisterBody>(ctx).body, ctx.ip);
    setSession(ctx, session);
    ctx.status = 201;
    ctx.body = { success: true, message: 'Registration successful', user: presentAuthUser(deps.usersService.seen(user)), tokens: tokensOf(session) };
  });

  router.post('/login', validate({ body: LoginBody }), async (ctx) => {
    const { user, session } = await deps.auth.login(input<LoginBody>(ctx).body, ctx.ip);
    setSession(ctx, session);
    ctx.body = { success: true, message: 'Login successful', user: presentAuthUser(deps.usersService.seen(user)), tokens: tokensOf(session) };
  });

  router.get('/me', auth, async (ctx) => {
    ctx.body = { success: true, user: presentSelf(await deps.usersService.get(self(ctx))) };
  });

  router.post('/refresh', validate({ body: RefreshBody }), async (ctx) => {
    const token = await refreshTokenOf(ctx, input<{ refreshToken?: string }>(ctx).body);
    if (!token) throw new Unauthorized('Send {"refreshToken": "..."} (or the refresh cookie)');
    const session = await deps.auth.refresh(token, ctx.ip);
    setSession(ctx, session);
    ctx.body = { success: true, message: 'Token refreshed', tokens: tokensOf(session) };
  });

  router.post('/logout', auth, validate({ body: LogoutBody }), async (ctx) => {
    const token = await refreshTokenOf(ctx, input<{ refreshToken?: string }>(ctx).body).catch(() => undefined);
    await deps.auth.logout(principalOf(ctx), token);
    ctx.append('Set-Cookie', clearedSessionCookies(deps.secureCookies));
    ctx.body = { success: true, message: 'Logged out' };
  });

  router.put('/profile', auth, validate({ body: ProfileUpdate }), async (ctx) => {
    const user = await deps.usersService.updateProfile(self(ctx), input<ProfileUpdate>(ctx).body);
    ctx.body = { success: true, message: 'Profile updated', user: presentSelf(user) };
  });

  router.put('/password', auth, validate({ body: PasswordChangeBody }), async (ctx) => {
    const { session } = await deps.auth.changePassword(principalOf(ctx), input<PasswordChangeBody>(ctx).body);
    setSession(ctx, session);
    ctx.body = { success: true, message: 'Password changed; other sessions were logged out', tokens: tokensOf(session) };
  });

  router.post('/password/forgot', validate({ body: ForgotPasswordBody }), async (ctx) => {
    await deps.auth.forgotPassword(input<{ email: string }>(ctx).body.email, ctx.ip);
    ctx.body = { success: true, message: 'If that e-mail is registered, a reset link is on its way' };
  });

  router.post('/password/reset', validate({ body: ResetPasswordBody }), async (ctx) => {
    await deps.auth.resetPassword(input<ResetPasswordBody>(ctx).body, ctx.ip);
    ctx.body = { success: true, message: 'Password reset; every session was logged out, log in with the new password' };
  });

  router.post('/block/:userId', auth, validate({ params: TargetUserParams }), async (ctx) => {
    const user = await deps.usersService.block(self(ctx), new ObjectId(input<unknown, unknown, { userId: string }>(ctx).params.userId));
    ctx.body = { success: true, message: 'User blocked', blockedUsers: user.blockedUsers.map((id) => id.toHexString()) };
  });

  router.delete('/block/:userId', auth, validate({ params: TargetUserParams }), async (ctx) => {
    const user = await deps.usersService.unblock(self(ctx), new ObjectId(input<unknown, unknown, { userId: string }>(ctx).params.userId));
    ctx.body = { success: true, message: 'User unblocked', blockedUsers: user.blockedUsers.map((id) => id.toHexString()) };
  });

  router.get('/oauth', (ctx) => {
    ctx.body = { success: true, providers: deps.oauth.enabled() };
  });

  router.get('/oauth/:provider', validate({ params: OAuthParams }), async (ctx) => {
    const { provider } = input<unknown, unknown, { provider: 'google' | 'github' }>(ctx).params;
    const { url, cookie } = await deps.oauth.begin(provider);
    ctx.append('Set-Cookie', serializeCookie(OAUTH_COOKIE, cookie, { path: cookiePaths.oauth, maxAgeSeconds: 600, httpOnly: true, secure: deps.secureCookies }));
    ctx.redirect(url.toString());
  });

  router.get('/oauth/:provider/callback', validate({ params: OAuthParams, query: OAuthCallbackQuery }), async (ctx) => {
    const { params, query } = input<unknown, OAuthCallbackQuery, { provider: 'google' | 'github' }>(ctx);
    // The state cookie is single-use whatever the outcome.
    ctx.append('Set-Cookie', serializeCookie(OAUTH_COOKIE, '', { path: cookiePaths.oauth, maxAgeSeconds: 0, httpOnly: true, secure: deps.secureCookies }));
    // A browser navigating here (it asks for HTML first) is shown the web app's page, not JSON.
    const landing = deps.oauthSuccessUrl ?? (ctx.accepts('json', 'html') === 'html' ? deps.webLanding : undefined);
    let signedIn;
    try {
      const profile = await deps.oauth.finish(params.provider, query, readCookie(ctx.get('cookie'), OAUTH_COOKIE));
      signedIn = await deps.auth.oauthLogin(profile, ctx.ip);
    } catch (error) {
      if (!landing || !(error instanceof AppError) || landing !== deps.webLanding) throw error;
      ctx.redirect(`${landing}?error=${encodeURIComponent(error.message)}`);
      return;
    }
    setSession(ctx, signedIn.session);
    if (landing) {
      ctx.redirect(landing);
      return;
    }
    ctx.body = { success: true, message: 'Login successful', user: presentAuthUser(deps.usersService.seen(signedIn.user)), tokens: tokensOf(signedIn.session) };
  });

  return router;
}
