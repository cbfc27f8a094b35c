import { createReadStream, type ReadStream } from 'node:fs';
import { basename } from 'node:path';
import { Conflict, NotFound } from '../../errors.js';
import type { Logger } from '../../logger.js';
import { backupAndRecord } from './backup.js';
import type { CollectionsRepo } from './collections-repo.js';
import { listBackups, readBackupStatus, type BackupFile } from './store.js';

export interface BackupsServiceDeps {
  collections: CollectionsRepo;
  databaseKind: 'mongodb' | 'embedded';
  dataDir: string;
  backupDir: string;
  logger: Logger;
}

/** The backup an administrator started from the web, while it runs and after it ended. */
export interface AdminBackupRun {
  startedAt: Date;
  state: 'running' | 'done' | 'failed';
  finishedAt?: Date;
  name?: string;
  size?: number;
  error?: string;
}

const presentBackup = (file: BackupFile) => ({ name: file.name, size: file.size, createdAt: file.modifiedAt });

/**
 * Backups for the admin console: the archives in BACKUP_DIR, one backup at a time started from
 * the web (the same archive `chatd backup` writes, recorded where `chatd doctor` reads it), and an
 * archive's bytes to download. The CLI stays the primary tool; this is the same work behind a page.
 */
export class BackupsService {
  private run: AdminBackupRun | undefined;
  private running: Promise<void> | undefined;
  private readonly stopping = new AbortController();
  private readonly log: Logger;

  constructor(private readonly deps: BackupsServiceDeps) {
    this.log = deps.logger.child({ component: 'backup' });
  }

  /** The archives (newest first), the web-started backup (running or last), and the last outcome any backup recorded. */
  async list() {
    const [files, status] = await Promise.all([listBackups(this.deps.backupDir), readBackupStatus(this.deps.dataDir).catch(() => undefined)]);
    return { backups: files.map(presentBackup), current: this.run ?? null, lastAttempt: status?.lastAttempt ?? null, lastSuccess: status?.lastSuccess ?? null };
  }

  /** Starts a backup in the background; a second one while it runs is a 409. */
  start(): AdminBackupRun {
    if (this.running) throw new Conflict('A backup started from the admin console is still running');
    const run: AdminBackupRun = { startedAt: new Date(), state: 'running' };
    this.run = run;
    this.running = backupAndRecord({
      collections: this.deps.collections,
      databaseKind: this.deps.databaseKind,
      dataDir: this.deps.dataDir,
      backupDir: this.deps.backupDir,
      trigger: 'manual',
      signal: this.stopping.signal,
    })
      .then((result) => {
        Object.assign(run, { state: 'done', finishedAt: new Date(), name: basename(result.file), size: result.size });
        this.log.info({ file: result.file, bytes: result.size }, 'backup started from the admin console written');
      })
      .catch((error: unknown) => {
        Object.assign(run, { state: 'failed', finishedAt: new Date(), error: (error as Error).message });
        if (!this.stopping.signal.aborted) this.log.error({ err: error }, `BACKUP FAILED: ${(error as Error).message}`);
      })
      .finally(() => {
        this.running = undefined;
      });
    return run;
  }

  /** An archive in BACKUP_DIR by its name; only names the listing shows are served, so no path leaves the directory. */
  async open(name: string): Promise<{ backup: ReturnType<typeof presentBackup>; stream: ReadStream }> {
    const file = (await listBackups(this.deps.backupDir)).find((entry) => entry.name === name);
    if (!file) throw new NotFound('No such backup');
    const stream = createReadStream(file.path);
    // Pruning may delete it between the listing and here: that is a 404 too, not a broken download.
    await new Promise<void>((resolve, reject) => {
      stream.once('open', () => resolve());
      stream.once('error', (error: NodeJS.ErrnoException) => reject(error.code === 'ENOENT' ? new NotFound('No such backup') : error));
    });
    return { backup: presentBackup(file), stream };
  }

  /** On shutdown: interrupts a running backup (its partial file is removed) and waits for it. */
  async stop(): Promise<void> {
    this.stopping.abort();
    await this.running;
  }
}
