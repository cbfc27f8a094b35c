import { hostname } from 'node:os';
import type { Db } from 'mongodb';
import type { Logger } from '../logger.js';
import { migrations as allMigrations } from './migrations/index.js';
import type { Migration } from './migrations/types.js';

interface AppliedRecord {
  _id: string;
  description: string;
  appliedAt: Date;
  durationMs: number;
}

interface LockDocument {
  _id: string;
  owner: string;
  acquiredAt: Date;
  heartbeatAt: Date;
}

export interface MigrationStatus {
  id: string;
  description: string;
  appliedAt: Date | undefined;
  /** False for a migration applied by a newer chatd. */
  known: boolean;
}

export class MigrationLockTimeout extends Error {
  override name = 'MigrationLockTimeout';
}

const LOCK_ID = 'migrations';
// A holder that stopped heartbeating this long ago crashed; its lock may be taken over.
const STALE_LOCK_MS = 60_000;

/** Each migration with its applied time, in order. Unknown applied ids (from a newer chatd) come last. */
export async function migrationStatus(db: Db, migrations: readonly Migration[] = allMigrations): Promise<MigrationStatus[]> {
  const applied = new Map((await db.collection<AppliedRecord>('migrations').find().toArray()).map((r) => [r._id, r]));
  const known = migrations.map((m) => ({ id: m.id, description: m.description, appliedAt: applied.get(m.id)?.appliedAt, known: true }));
  const unknown = [...applied.values()]
    .filter((r) => !migrations.some((m) => m.id === r._id))
    .map((r) => ({ id: r._id, description: `${r.description} (not known to this chatd version)`, appliedAt: r.appliedAt, known: false }));
  return [...known, ...unknown];
}

export async function pendingMigrations(db: Db, migrations: readonly Migration[] = allMigrations): Promise<Migration[]> {
  const applied = new Set((await db.collection<AppliedRecord>('migrations').find({}, { projection: { _id: 1 } }).toArray()).map((r) => r._id));
  return migrations.filter((m) => !applied.has(m.id));
}

async function acquireLock(db: Db, owner: string, timeoutMs: number, logger: Logger): Promise<void> {
  const locks = db.collection<LockDocument>('locks');
  const deadline = Date.now() + timeoutMs;
  let announced = false;
  for (;;) {
    const now = new Date();
    try {
      await locks.insertOne({ _id: LOCK_ID, owner, acquiredAt: now, heartbeatAt: now });
      return;
    } catch (error) {
      if ((error as { code?: number }).code !== 11000) throw error;
    }
    // Take over a lock whose holder stopped heartbeating; the filter makes the takeover atomic.
    const stolen = await locks.findOneAndUpdate(
      { _id: LOCK_ID, heartbeatAt: { $lt: new Date(now.getTime() - STALE_LOCK_MS) } },
      { $set: { owner, acquiredAt: now, heartbeatAt: now } },
    );
    if (stolen) {
      logger.warn({ previousOwner: stolen.owner }, 'took over a stale migration lock');
      return;
    }
    if (Date.now() > deadline) {
      const holder = await locks.findOne({ _id: LOCK_ID });
      throw new MigrationLockTimeout(`another process (${holder?.owner ?? 'unknown'}) is applying migrations; try again when it has finished`);
    }
    if (!announced) {
      logger.info('waiting for another process to finish migrating');
      announced = true;
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

export interface MigrateOptions {
  logger: Logger;
  migrations?: readonly Migration[];
  lockTimeoutMs?: number;
}

/** Applies pending migrations in order under the lock; returns the ids it applied. */
export async function migrate(db: Db, options: MigrateOptions): Promise<string[]> {
  const migrations = options.migrations ?? allMigrations;
  const logger = options.logger.child({ component: 'migrate' });
  const owner = `${hostname()}:${process.pid}:${Math.random().toString(36).slice(2, 8)}`;
  await acquireLock(db, owner, options.lockTimeoutMs ?? 120_000, logger);
  const heartbeat = setInterval(() => {
    db.collection<LockDocument>('locks').updateOne({ _id: LOCK_ID, owner }, { $set: { heartbeatAt: new Date() } }).catch(() => undefined);
  }, STALE_LOCK_MS / 4);
  heartbeat.unref();
  const applied: string[] = [];
  try {
    // Read after locking: whoever held the lock before may have applied everything already.
    for (const migration of await pendingMigrations(db, migrations)) {
      const started = Date.now();
      logger.info({ migration: migration.id }, `applying migration ${migration.id}: ${migration.description}`);
      await migration.up(db);
      const durationMs = Date.now() - started;
      await db.collection<AppliedRecord>('migrations').insertOne({ _id: migration.id, description: migration.description, appliedAt: new Date(), durationMs });
      logger.info({ migration: migration.id, durationMs }, `applied migration ${migration.id}`);
      applied.push(migration.id);
    }
  } finally {
    clearInterval(heartbeat);
    await db.collection<LockDocument>('locks').deleteOne({ _id: LOCK_ID, owner });
  }
  return applied;
}
