import Router from '@koa/router';
import type { Db } from 'mongodb';
import type { DatabaseEngine } from '../../db/engine.js';
import { Unavailable } from '../../errors.js';
import type { ChatdMiddleware, ChatdState } from '../../http/context.js';
import { version } from '../../version.js';

/** How long a ping may take before the database counts as unreachable. */
const PING_TIMEOUT_MS = 1000;

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
}

/** Milliseconds the database took to answer a ping; throws when it did not answer within a second. */
async function pingDatabase(db: Db): Promise<number> {
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      db.command({ ping: 1 }),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error('ping timed out')), PING_TIMEOUT_MS);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
  return Math.round(performance.now() - started);
}

/** Liveness (the process answers), readiness (the database answers within a second), and the administrator's view of both. */
export function healthRoutes(deps: HealthRoutesDeps): Router<ChatdState> {
  const router = new Router<ChatdState>();
  router.get('/healthz', (ctx) => {
    ctx.body = { success: true, status: 'ok' };
  });
  router.get('/readyz', async (ctx) => {
    try {
      await pingDatabase(deps.db);
    } catch (error) {
      throw new Unavailable(`Database unreachable: ${(error as Error).message}`);
    }
    ctx.body = { success: true, status: 'ready', database: 'ok' };
  });

  // Answers 200 with `ready: false` when the database does not: the page shows what is wrong instead of failing.
  router.get('/api/admin/health', deps.requireAuth, deps.requireAdmin, async (ctx) => {
    let database: { ready: boolean; latencyMs?: number; error?: string };
    try {
      database = { ready: true, latencyMs: await pingDatabase(deps.db) };
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
