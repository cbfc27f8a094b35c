import Router from '@koa/router';
import { ObjectId } from 'mongodb';
import type { ChatdMiddleware, ChatdState } from '../../http/context.js';
import { input, validate } from '../../http/validate.js';
import { principalOf } from '../auth/middleware.js';
import { avatarSvg } from './avatar.js';
import { presentAdminUser, presentPublicUser } from './presenter.js';
import { AdminUserListQuery, RoleBody, UserIdParams, UserSearchQuery } from './schemas.js';
import type { UsersService } from './service.js';

export interface UsersRoutesDeps {
  usersService: UsersService;
  requireAuth: ChatdMiddleware;
  requireAdmin: ChatdMiddleware;
}

type IdParams = { id: string };
const idOf = (ctx: Parameters<ChatdMiddleware>[0]) => new ObjectId(input<unknown, unknown, IdParams>(ctx).params.id);

/** Looking people up (public fields only), the generated avatars, and the administrator's user API. */
export function usersRoutes({ usersService, requireAuth, requireAdmin }: UsersRoutesDeps): Router<ChatdState> {
  const router = new Router<ChatdState>();

  router.get('/api/users', requireAuth, validate({ query: UserSearchQuery }), async (ctx) => {
    const query = input<unknown, UserSearchQuery>(ctx).query;
    const { users, hasMore } = await usersService.search(query);
    ctx.body = { success: true, users: users.map(presentPublicUser), page: query.page, limit: query.limit, hasMore };
  });

  router.get('/api/users/:id', requireAuth, validate({ params: UserIdParams }), async (ctx) => {
    ctx.body = { success: true, user: presentPublicUser(await usersService.getVisible(idOf(ctx))) };
  });

  // Public: <img> tags cannot send a bearer token, and the image shows no more than initials.
  router.get('/api/users/:id/avatar', validate({ params: UserIdParams }), async (ctx) => {
    const user = await usersService.getVisible(idOf(ctx));
    ctx.type = 'image/svg+xml';
    ctx.set('Cache-Control', 'public, max-age=86400');
    // Client pages on other origins (CORS_ORIGIN) show it.
    ctx.set('Cross-Origin-Resource-Policy', 'cross-origin');
    ctx.body = avatarSvg(user._id.toHexString(), user.username);
  });

  const admin = [requireAuth, requireAdmin];

  router.get('/api/admin/users', ...admin, validate({ query: AdminUserListQuery }), async (ctx) => {
    const query = input<unknown, UserSearchQuery>(ctx).query;
    const { users, hasMore } = await usersService.list(query);
    ctx.body = { success: true, users: users.map(presentAdminUser), page: query.page, limit: query.limit, hasMore };
  });

  router.post('/api/admin/users/:id/disable', ...admin, validate({ params: UserIdParams }), async (ctx) => {
    const user = await usersService.setDisabled(idOf(ctx), true, new ObjectId(principalOf(ctx).userId));
    ctx.body = { success: true, message: 'User disabled; their sessions and connections were closed', user: presentAdminUser(user) };
  });

  router.post('/api/admin/users/:id/enable', ...admin, validate({ params: UserIdParams }), async (ctx) => {
    const user = await usersService.setDisabled(idOf(ctx), false, new ObjectId(principalOf(ctx).userId));
    ctx.body = { success: true, message: 'User enabled', user: presentAdminUser(user) };
  });

  router.put('/api/admin/users/:id/role', ...admin, validate({ params: UserIdParams, body: RoleBody }), async (ctx) => {
    const { role } = input<{ role: 'user' | 'admin' }>(ctx).body;
    const user = await usersService.setRole(idOf(ctx), role, new ObjectId(principalOf(ctx).userId));
    ctx.body = { success: true, message: `Role set to ${role}`, user: presentAdminUser(user) };
  });

  return router;
}
