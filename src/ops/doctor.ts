import { accessSync, constants, existsSync, mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import type { Config } from '../config/load.js';
import { openDatabase, type Database } from '../db/database.js';
import { defaultLauncherPath, findRunningEmbedded } from '../db/embedded.js';
import { pendingMigrations } from '../db/migrate.js';
import type { Logger } from '../logger.js';
import { detectUwsRuntime } from '../realtime/native.js';

export interface CheckResult {
  name: string;
  ok: boolean;
  detail: string;
}

export interface DoctorContext {
  config: Config;
  logger: Logger;
  /** Opened by the database check; later checks that need it skip when it is absent. */
  database?: Database;
}

export type Check = (context: DoctorContext) => Promise<CheckResult | CheckResult[]>;

function portFree(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, host, () => server.close(() => resolve(true)));
  });
}

async function answersAsChatd(port: number): Promise<boolean> {
  try {
    const response = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(1000) });
    return response.ok && ((await response.json()) as { status?: string }).status === 'ok';
  } catch {
    return false;
  }
}

const dataDirectory: Check = async ({ config }) => {
  try {
    mkdirSync(config.CHATD_DATA_DIR, { recursive: true });
    accessSync(config.CHATD_DATA_DIR, constants.W_OK);
    return { name: 'data directory', ok: true, detail: `${config.CHATD_DATA_DIR} is writable` };
  } catch (error) {
    return { name: 'data directory', ok: false, detail: `${config.CHATD_DATA_DIR}: ${(error as Error).message}` };
  }
};

const uwsBinary: Check = async () => {
  const runtime = detectUwsRuntime();
  return runtime.native
    ? { name: 'websocket engine', ok: true, detail: `uWebSockets.js native binary ${runtime.binary}` }
    : { name: 'websocket engine', ok: false, detail: `uWebSockets.js would use its slow JavaScript fallback (${runtime.binary}: ${runtime.reason})` };
};

const embeddedLauncher: Check = async ({ config }) => {
  if (config.MONGODB_URI) return [];
  const launcher = config.CHATD_FERRETDB_BIN ?? defaultLauncherPath();
  return existsSync(launcher)
    ? { name: 'embedded database', ok: true, detail: `launcher ${launcher}` }
    : { name: 'embedded database', ok: false, detail: `${launcher} is missing: run \`npm run setup\` (needs Go) or set MONGODB_URI` };
};

const databaseReachable: Check = async (context) => {
  try {
    const database = await openDatabase(context.config, context.logger);
    context.database = database;
    const info = (await database.db.admin().command({ buildInfo: 1 })) as { version?: string; ferretdbVersion?: string };
    const ferret = info.ferretdbVersion && info.ferretdbVersion !== 'unknown' ? `FerretDB ${info.ferretdbVersion}` : 'FerretDB';
    const server = info.ferretdbVersion ? `${ferret} (MongoDB ${info.version} compatible)` : `MongoDB ${info.version}`;
    return { name: 'database', ok: true, detail: `${server} at ${database.displayUri} (${database.kind})` };
  } catch (error) {
    return { name: 'database', ok: false, detail: (error as Error).message };
  }
};

const migrations: Check = async ({ database }) => {
  if (!database) return { name: 'migrations', ok: false, detail: 'skipped: no database connection' };
  const pending = await pendingMigrations(database.db);
  return pending.length === 0
    ? { name: 'migrations', ok: true, detail: 'all applied' }
    : { name: 'migrations', ok: false, detail: `${pending.length} pending (${pending.map((m) => m.id).join(', ')}): run \`chatd migrate\`` };
};

const ports: Check = async ({ config }) => {
  const results: CheckResult[] = [];
  for (const [name, port] of [['PORT', config.PORT], ['WS_PORT', config.WS_PORT]] as const) {
    if (await portFree(config.HOST, port)) {
      results.push({ name: `port ${name}`, ok: true, detail: `${config.HOST}:${port} is free` });
    } else if (name === 'PORT' ? await answersAsChatd(port) : await answersAsChatd(config.PORT)) {
      results.push({ name: `port ${name}`, ok: true, detail: `${port} is in use by a running chatd` });
    } else {
      results.push({ name: `port ${name}`, ok: false, detail: `${config.HOST}:${port} is in use by another program` });
    }
  }
  return results;
};

const embeddedOwner: Check = async ({ config }) => {
  if (config.MONGODB_URI) return [];
  const running = findRunningEmbedded(config.CHATD_DATA_DIR);
  return { name: 'embedded server', ok: true, detail: running ? `run by chatd process ${running.supervisorPid} at ${running.uri}` : 'not running (chatd starts it on demand)' };
};

/** The checks in the order they print; other capabilities append theirs. */
export const checks: Check[] = [dataDirectory, uwsBinary, embeddedLauncher, embeddedOwner, databaseReachable, migrations, ports];

export async function runDoctor(context: DoctorContext, list: Check[] = checks): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  try {
    for (const check of list) {
      try {
        const result = await check(context);
        results.push(...(Array.isArray(result) ? result : [result]));
      } catch (error) {
        results.push({ name: check.name || 'check', ok: false, detail: (error as Error).message });
      }
    }
  } finally {
    await context.database?.close();
  }
  return results;
}
