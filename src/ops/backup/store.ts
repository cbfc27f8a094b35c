import { link, mkdir, readdir, readFile, rename, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { processAlive } from '../../db/embedded.js';

// The backups directory (archives named chatd-<timestamp>.tar.gz, files being written under a
// hidden temporary name), and last-backup.json in the data directory with the outcome `chatd
// doctor` reports: kept apart from the archives so that a backup directory that cannot be
// written to is still reported.

const archivePattern = /^chatd-.+\.tar\.gz$/;
const partialPattern = /^\.(chatd-.+\.tar\.gz)\.(\d+)\.partial$/;
const STATUS_FILE = 'last-backup.json';

export interface BackupFile {
  path: string;
  name: string;
  size: number;
  modifiedAt: Date;
}

export type BackupTrigger = 'manual' | 'scheduled';

export interface BackupAttempt {
  at: string;
  trigger: BackupTrigger;
  ok: boolean;
  durationMs: number;
  file?: string;
  size?: number;
  error?: string;
}

export interface BackupStatus {
  lastAttempt: BackupAttempt;
  lastSuccess?: BackupAttempt;
}

/** `chatd-2025-01-31T03-00-00-123Z.tar.gz`: sorts by time and is a valid file name everywhere. */
export function defaultArchiveName(now = new Date()): string {
  return `chatd-${now.toISOString().replace(/[:.]/g, '-')}.tar.gz`;
}

/** Hidden, and carrying the writer's pid so a crashed run's leftovers can be told from a live one. */
export function partialPath(finalPath: string): string {
  return join(dirname(finalPath), `.${basename(finalPath)}.${process.pid}.partial`);
}

export async function ensureBackupDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
}

/** Moves the finished file into place without ever replacing an existing one. */
export async function publish(temporary: string, finalPath: string): Promise<void> {
  try {
    await link(temporary, finalPath);
    await unlink(temporary);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw new Error(`${finalPath} already exists`);
    // Some file systems (SMB, FAT, a few FUSE mounts) have no hard links.
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'EXDEV') throw error;
    if (await stat(finalPath).then(() => true, () => false)) throw new Error(`${finalPath} already exists`);
    await rename(temporary, finalPath);
  }
}

/** Archives in the directory, newest first. */
export async function listBackups(dir: string): Promise<BackupFile[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  const files: BackupFile[] = [];
  for (const name of names.filter((entry) => archivePattern.test(entry))) {
    const path = join(dir, name);
    const info = await stat(path).catch(() => undefined);
    if (info?.isFile()) files.push({ path, name, size: info.size, modifiedAt: info.mtime });
  }
  return files.sort((a, b) => b.modifiedAt.getTime() - a.modifiedAt.getTime() || b.name.localeCompare(a.name));
}

/** Deletes all but the `keep` newest archives, and partial files of writers that died; returns what it deleted. */
export async function pruneBackups(dir: string, keep: number): Promise<string[]> {
  const removed: string[] = [];
  for (const file of (await listBackups(dir)).slice(keep)) {
    await rm(file.path, { force: true });
    removed.push(file.path);
  }
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    const match = partialPattern.exec(name);
    if (match && Number(match[2]) !== process.pid && !processAlive(Number(match[2]))) {
      await rm(join(dir, name), { force: true });
      removed.push(join(dir, name));
    }
  }
  return removed;
}

export async function readBackupStatus(dataDir: string): Promise<BackupStatus | undefined> {
  const file = join(dataDir, STATUS_FILE);
  try {
    return JSON.parse(await readFile(file, 'utf8')) as BackupStatus;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new Error(`${file} is unreadable: ${(error as Error).message}`);
  }
}

/** Records an attempt, keeping the last success when this one failed. */
export async function recordBackupAttempt(dataDir: string, attempt: BackupAttempt): Promise<void> {
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const previous = await readBackupStatus(dataDir).catch(() => undefined);
  const status: BackupStatus = { lastAttempt: attempt, lastSuccess: attempt.ok ? attempt : previous?.lastSuccess };
  const file = join(dataDir, STATUS_FILE);
  const temporary = `${file}.${process.pid}.tmp`;
  await writeFile(temporary, JSON.stringify(status, null, 2) + '\n', { mode: 0o600 });
  await rename(temporary, file);
}
