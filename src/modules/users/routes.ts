import Router from '@koa/router';
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { ObjectId } from 'mongodb';
import type { ChatdMiddleware, ChatdState } from '../../http/context.js';
import { input, validate } from '../../http/validate.js';
import { principalOf } from '../auth/middleware.js';
import { generatePassword } from '../auth/passwords.js';
import type { FileStorage } from '../files/storage.js';
import { receiveUpload, uploadedFile } from '../files/upload.js';
import { avatarSvg } from './avatar.js';
import { presentAdminUser, presentPublicUser, presentSelf } from './presenter.js';
import { AdminUserListQuery, RoleBody, UserIdParams, UserSearchQuery } from './schemas.js';
import type { UsersService } from './service.js';

export interface UsersRoutesDeps {
  usersService: UsersService;
  requireAuth: ChatdMiddleware;
  requireAdmin: ChatdMiddleware;
  /** Where uploads land while they are read (avatars are then kept in the database). */
  storage: FileStorage;
}

/** The web app scales pictures down to 256 pixels before sending them; this leaves room for a careful PNG. */
export const AVATAR_MAX_BYTES = 1024 * 1024;

type IdParams = { id: string };
const idOf = (ctx: Parameters<ChatdMiddleware>[0]) => new ObjectId(input<unknown, unknown, IdParams>(ctx).params.id);

/** Looking people up (public fields only), the generated avatars, and the administrator's user API. */
export function usersRoutes({ usersService, requireAuth, requireAdmin, storage }: UsersRoutesDeps): Router<ChatdState> {
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
    const picture = await usersService.avatarImage(user);
    // Each uploaded picture has its own address (?v=), so a day of caching never shows a stale one.
    ctx.set('Cache-Control', 'public, max-age=86400');
    // Client pages on other origins (CORS_ORIGIN) show it.
    ctx.set('Cross-Origin-Resource-Policy', 'cross-origin');
    ctx.set('X-Content-Type-Options', 'nosniff');
    if (picture) {
      ctx.type = picture.mimeType;
      ctx.body = Buffer.from(picture.data.buffer);
      return;
    }
    ctx.type = 'image/svg+xml';
    ctx.body = avatarSvg(user._id.toHexString(), user.username);
  });

  router.put('/api/auth/avatar', requireAuth, receiveUpload(storage, AVATAR_MAX_BYTES), async (ctx) => {
    const upload = uploadedFile(ctx);
    let bytes: Buffer;
    try {
      bytes = await readFile(upload.filepath);
    } finally {
      await storage.remove(basename(upload.filepath));
    }
    const user = await usersService.setAvatarImage(new ObjectId(principalOf(ctx).userId), bytes);
    ctx.body = { success: true, message: 'Avatar updated', user: presentSelf(user) };
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

  router.post('/api/admin/users/:id/password', ...admin, validate({ params: UserIdParams }), async (ctx) => {
    const password = generatePassword();
    const user = await usersService.setPassword(idOf(ctx), password, 'password reset by an administrator');
    // The only time the password is shown: nothing keeps it, so no cache may either.
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { success: true, message: 'Password reset; every session of the user was logged out', password, user: presentAdminUser(user) };
  });

  router.put('/api/admin/users/:id/role', ...admin, validate({ params: UserIdParams, body: RoleBody }), async (ctx) => {
    const { role } = input<{ role: 'user' | 'admin' }>(ctx).body;
    const user = await usersService.setRole(idOf(ctx), role, new ObjectId(principalOf(ctx).userId));
    ctx.body = { success: true, message: `Role set to ${role}`, user: presentAdminUser(user) };
  });

  return router;
}
