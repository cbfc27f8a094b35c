import Router from '@koa/router';
import type { Db } from 'mongodb';
import { Unavailable } from '../../errors.js';
import type { ChatdState } from '../../http/context.js';

export interface HealthRoutesDeps {
  db: Db;
}

/** Liveness (the process answers) and readiness (the database answers within a second). */
export function healthRoutes({ db }: HealthRoutesDeps): Router<ChatdState> {
  const router = new Router<ChatdState>();
  router.get('/healthz', (ctx) => {
    ctx.body = { success: true, status: 'ok' };
  });
  router.get('/readyz', async (ctx) => {
    try {
      await Promise.race([
        db.command({ ping: 1 }),
        new Promise((_, reject) => setTimeout(() => reject(new Error('ping timed out')), 1000).unref()),
      ]);
    } catch (error) {
      throw new Unavailable(`Database unreachable: ${(error as Error).message}`);
    }
    ctx.body = { success: true, status: 'ready', database: 'ok' };
  });
  return router;
}
