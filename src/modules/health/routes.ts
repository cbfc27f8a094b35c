import Router from '@koa/router';
import type { Db } from 'mongodb';
import { Unavailable } from '../../errors.js';
import type { ChatdState } from '../../http/context.js';

export interface ReadinessDeps {
  db: Db;
  /** Refusing writes: a full disk makes chatd unready. */
  storage: { assertWritable(): void };
  /** History and sends are answered only once the message timeline is loaded. */
  messages: { isReady: boolean };
  /** How long the database may take to answer the readiness ping (ms). */
  timeoutMs: number;
}

/**
 * Liveness (the process answers) and readiness: chatd answers history and sends now. Not ready
 * while the message timeline loads, while the disk is full (503 STORAGE_FULL, so a balancer or an
 * operator sees why) or while the database does not answer within `timeoutMs`.
 */
export function healthRoutes({ db, storage, messages, timeoutMs }: ReadinessDeps): Router<ChatdState> {
  const router = new Router<ChatdState>();
  router.get('/healthz', (ctx) => {
    ctx.body = { success: true, status: 'ok' };
  });
  router.get('/readyz', async (ctx) => {
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        db.command({ ping: 1 }),
        new Promise((_, reject) => (timer = setTimeout(() => reject(new Error('ping timed out')), timeoutMs))),
      ]);
    } catch (error) {
      throw new Unavailable(`Database unreachable: ${(error as Error).message}`);
    } finally {
      clearTimeout(timer);
    }
    storage.assertWritable();
    if (!messages.isReady) throw new Unavailable('Starting: the message index is still loading', 1);
    ctx.body = { success: true, status: 'ready', database: 'ok', storage: 'ok' };
  });
  return router;
}
