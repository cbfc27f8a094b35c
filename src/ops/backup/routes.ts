import Router from '@koa/router';
import { z } from 'zod';
import type { ChatdMiddleware, ChatdState } from '../../http/context.js';
import { input, validate } from '../../http/validate.js';
import type { BackupsService } from './admin.js';

const BackupParams = z.strictObject({ name: z.string().regex(/^chatd-[A-Za-z0-9_.-]+\.tar\.gz$/, 'must be the name of a backup archive (chatd-….tar.gz)') });

export interface BackupsRoutesDeps {
  backups: BackupsService;
  requireAuth: ChatdMiddleware;
  requireAdmin: ChatdMiddleware;
}

/** The admin console's backups: list, start one, download one (administrators only). */
export function backupsRoutes({ backups, requireAuth, requireAdmin }: BackupsRoutesDeps): Router<ChatdState> {
  const router = new Router<ChatdState>();
  const admin = [requireAuth, requireAdmin];

  router.get('/api/admin/backups', ...admin, async (ctx) => {
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { success: true, ...(await backups.list()) };
  });

  router.post('/api/admin/backups', ...admin, (ctx) => {
    ctx.status = 202;
    ctx.body = { success: true, message: 'Backup started', current: backups.start() };
  });

  router.get('/api/admin/backups/:name', ...admin, validate({ params: BackupParams }), async (ctx) => {
    const { backup, stream } = await backups.open(input<unknown, unknown, { name: string }>(ctx).params.name);
    ctx.type = 'application/gzip';
    ctx.length = backup.size;
    ctx.attachment(backup.name);
    // The whole database: never kept by a cache on the way.
    ctx.set('Cache-Control', 'no-store');
    ctx.body = stream;
  });

  return router;
}
