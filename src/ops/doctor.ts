import { accessSync, constants, existsSync, mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import cron from 'node-cron';
import type { Config } from '../config/load.js';
import { openDatabase, type Database } from '../db/database.js';
import { DataDirInUse, describeOwner, findOwner } from '../db/data-dir-owner.js';
import { defaultLauncherPath } from '../db/embedded.js';
import { migrationStatus } from '../db/migrate.js';
import { formatAge, formatBytes } from '../format.js';
import type { Logger } from '../logger.js';
import { detectUwsRuntime } from '../realtime/native.js';
import { readBackupStatus } from './backup/store.js';
import { answersAsChatd } from './running-server.js';
import { freeBytes } from './storage.js';

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

const dataDirectory: Check = async ({ config }) => {
  try {
    mkdirSync(config.CHATD_DATA_DIR, { recursive: true });
    accessSync(config.CHATD_DATA_DIR, constants.W_OK);
    return { name: 'data directory', ok: true, detail: `${config.CHATD_DATA_DIR} is writable` };
  } catch (error) {
    return { name: 'data directory', ok: false, detail: `${config.CHATD_DATA_DIR}: ${(error as Error).message}` };
  }
};

const storageSpace: Check = async ({ config }) => {
  const reserve = config.STORAGE_RESERVE_MB * 1024 * 1024;
  const free = await freeBytes(config.CHATD_DATA_DIR);
  return free < reserve
    ? { name: 'storage', ok: false, detail: `DISK FULL: ${formatBytes(free)} free for ${config.CHATD_DATA_DIR}, below the ${formatBytes(reserve)} reserve (STORAGE_RESERVE_MB); chatd refuses new messages and uploads (507 STORAGE_FULL) until space is freed` }
    : { name: 'storage', ok: true, detail: `${formatBytes(free)} free for ${config.CHATD_DATA_DIR}` };
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
    const database = await openDatabase(context.config, context.logger, { command: 'doctor' });
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
  const status = await migrationStatus(database.db);
  const unknown = status.filter((entry) => !entry.known);
  if (unknown.length > 0) {
    return { name: 'migrations', ok: false, detail: `the database was migrated by a newer chatd (${unknown.map((m) => m.id).join(', ')} unknown here): run that version or newer` };
  }
  const pending = status.filter((entry) => !entry.appliedAt);
  if (pending.length > 0) return { name: 'migrations', ok: false, detail: `${pending.length} pending (${pending.map((m) => m.id).join(', ')}): run \`chatd migrate\` (chatd serve also applies them at start)` };
  return { name: 'migrations', ok: true, detail: `all applied (${status.length}, the last ${status.at(-1)?.id ?? 'none'})` };
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

const dataDirOwner: Check = async ({ config }) => {
  try {
    const owner = await findOwner(config.CHATD_DATA_DIR);
    if (!owner) return { name: 'data directory owner', ok: true, detail: `none: chatd serve is not running on it${config.MONGODB_URI ? '' : ' (the embedded database starts on demand)'}` };
    return { name: 'data directory owner', ok: true, detail: `${describeOwner(owner)}${owner.databaseUri ? `, embedded database at ${owner.databaseUri}` : ''}` };
  } catch (error) {
    if (error instanceof DataDirInUse) return { name: 'data directory owner', ok: false, detail: `held by ${describeOwner(undefined)}` };
    throw error;
  }
};

/** The time between two runs of a cron schedule, taken from its next two runs. */
function cronInterval(expression: string): number | undefined {
  const task = cron.createTask(expression, () => undefined);
  try {
    const [first, second] = task.getNextRuns(2);
    return first && second ? second.getTime() - first.getTime() : undefined;
  } finally {
    void task.destroy();
  }
}

const backups: Check = async ({ config }) => {
  const schedule = config.BACKUP_CRON ? `scheduled "${config.BACKUP_CRON}", keeping ${config.BACKUP_KEEP}` : 'no schedule (set BACKUP_CRON to have chatd serve take them)';
  const status = await readBackupStatus(config.CHATD_DATA_DIR);
  if (!status) return { name: 'backups', ok: true, detail: `none taken yet in ${config.BACKUP_DIR}; ${schedule}` };
  const now = new Date();
  const { lastAttempt: last, lastSuccess: good } = status;
  const goodText = good ? `last good one ${formatAge(new Date(good.at), now)}: ${good.file}` : 'no backup has succeeded yet';
  if (!last.ok) {
    return { name: 'backups', ok: false, detail: `the last ${last.trigger} backup ${formatAge(new Date(last.at), now)} FAILED: ${last.error ?? 'unknown error'}; ${goodText}` };
  }
  const interval = config.BACKUP_CRON ? cronInterval(config.BACKUP_CRON) : undefined;
  const age = now.getTime() - new Date(last.at).getTime();
  // Twice the schedule's period plus an hour of slack: one missed run is noticed, a slow one is not.
  if (interval !== undefined && age > 2 * interval + 3_600_000) {
    return { name: 'backups', ok: false, detail: `the last backup was ${formatAge(new Date(last.at), now)}, but the schedule "${config.BACKUP_CRON}" runs more often: is chatd serve running?` };
  }
  return { name: 'backups', ok: true, detail: `last backup ${formatAge(new Date(last.at), now)} (${last.trigger}) ${last.file} (${formatBytes(last.size ?? 0)}); ${schedule}` };
};

/** The checks in the order they print; other capabilities append theirs. */
export const checks: Check[] = [dataDirectory, storageSpace, uwsBinary, embeddedLauncher, dataDirOwner, databaseReachable, migrations, ports, backups];

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
