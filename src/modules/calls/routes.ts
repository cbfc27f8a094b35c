import Router from '@koa/router';
import type { ChatdMiddleware, ChatdState } from '../../http/context.js';
import { input, validate } from '../../http/validate.js';
import { ListCallsQuery, type ListCallsInput } from './schemas.js';
import type { CallsService } from './service.js';

export interface CallsRoutesDeps {
  calls: CallsService;
  requireAuth: ChatdMiddleware;
}

/** `GET /api/calls` (the user's call history) and `GET /api/calls/ice-servers`. */
export function callsRoutes({ calls, requireAuth }: CallsRoutesDeps): Router<ChatdState> {
  const router = new Router<ChatdState>();
  router.get('/api/calls', requireAuth, validate({ query: ListCallsQuery }), async (ctx) => {
    const { query } = input<unknown, ListCallsInput>(ctx);
    ctx.body = { success: true, ...(await calls.listCalls(ctx.state.principal!.userId, query)) };
  });
  router.get('/api/calls/ice-servers', requireAuth, (ctx) => {
    // The TURN credentials are personal and expire: no cache may keep or share them.
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { success: true, ...calls.iceServers(ctx.state.principal!.userId) };
  });
  return router;
}
