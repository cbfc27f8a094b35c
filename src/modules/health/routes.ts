import Router from '@koa/router';
import type { Db } from 'mongodb';
import type { DatabaseEngine } from '../../db/engine.js';
import { Unavailable } from '../../errors.js';
import type { ChatdMiddleware, ChatdState } from '../../http/context.js';
import { version } from '../../version.js';


export interface HealthRoutesDeps {
  db: Db;
  /** `mongodb` for MONGODB_URI, `embedded` for the FerretDB chatd runs itself. */
  databaseKind: 'mongodb' | 'embedded';
  engine: DatabaseEngine;
  requireAuth: ChatdMiddleware;
  requireAdmin: ChatdMiddleware;
  /** Users online and their authenticated hub connections. */
  connections(): { users: number; connections: number };
  activeCalls(): number;
  /** Refusing writes: a full disk makes chatd unready. */
  storage: { assertWritable(): void };
  /** History and sends are answered only once the message timeline is loaded. */
  messages: { isReady: boolean };
  /** Whether the other start-up reads (memberships, block lists, account standings) have finished. */
  startupLoaded(): boolean;
  /** How long the database may take to answer the readiness ping (ms). */
  timeoutMs: number;
}

/** Milliseconds the database took to answer a ping; throws when it did not answer within `timeoutMs`. */
async function pingDatabase(db: Db, timeoutMs: number): Promise<number> {
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      db.command({ ping: 1 }),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error('ping timed out')), timeoutMs);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
  return Math.round(performance.now() - started);
}

/**
 * Liveness (the process answers), readiness (chatd answers history and sends now), and the
 * administrator's view of both. Not ready while the message timeline and the other start-up reads load, while the disk is full
 * (507 STORAGE_FULL, so a balancer or an operator sees why) or while the database does not answer
 * within `timeoutMs`.
 */
export function healthRoutes(deps: HealthRoutesDeps): Router<ChatdState> {
  const router = new Router<ChatdState>();
  router.get('/healthz', (ctx) => {
    ctx.body = { success: true, status: 'ok' };
  });
  router.get('/readyz', async (ctx) => {
    try {
      await pingDatabase(deps.db, deps.timeoutMs);
    } catch (error) {
      throw new Unavailable(`Database unreachable: ${(error as Error).message}`);
    }
    deps.storage.assertWritable();
    if (!deps.messages.isReady) throw new Unavailable('Starting: the message index is still loading', 1);
    // Until then every request reads what the start-up is reading, one by one.
    if (!deps.startupLoaded()) throw new Unavailable('Starting: memberships and accounts are still loading', 1);
    ctx.body = { success: true, status: 'ready', database: 'ok', storage: 'ok' };
  });

  // Answers 200 with `ready: false` when the database does not: the page shows what is wrong instead of failing.
  router.get('/api/admin/health', deps.requireAuth, deps.requireAdmin, async (ctx) => {
    let database: { ready: boolean; latencyMs?: number; error?: string };
    try {
      database = { ready: true, latencyMs: await pingDatabase(deps.db, deps.timeoutMs) };
    } catch (error) {
      database = { ready: false, error: (error as Error).message };
    }
    ctx.set('Cache-Control', 'no-store');
    ctx.body = {
      success: true,
      health: {
        version,
        node: process.version,
        startedAt: new Date(Date.now() - process.uptime() * 1000),
        uptimeSeconds: Math.floor(process.uptime()),
        database: { kind: deps.databaseKind, engine: deps.engine, ...database },
        clients: deps.connections(),
        activeCalls: deps.activeCalls(),
      },
    };
  });
  return router;
}
