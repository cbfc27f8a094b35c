import { createReadStream } from 'node:fs';
import { opendir, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { version } from '../../version.js';
import { ArchiveWriter, type EntryDigest } from './archive.js';
import type { CollectionsRepo } from './collections-repo.js';
import { ARCHIVE_FORMAT, ARCHIVE_FORMAT_VERSION, collectionEntryName, MANIFEST_ENTRY, uploadEntryName, type Manifest, type ManifestCollection } from './manifest.js';
import { defaultArchiveName, ensureBackupDir, partialPath, publish, recordBackupAttempt, type BackupTrigger } from './store.js';

/** Collection parts are cut at this size: the most a backup or a restore holds in memory at once. */
export const PART_BYTES = 4 * 1024 * 1024;

export interface BackupProgress {
  phase: 'collections' | 'uploads' | 'finishing';
  collection?: string;
  documents: number;
  /** Estimated at the start; concurrent writes make it approximate. */
  totalDocuments: number;
  files: number;
  bytes: number;
}

export interface BackupOptions {
  collections: CollectionsRepo;
  databaseKind: string;
  dataDir: string;
  backupDir: string;
  /** Where to write; default `<backupDir>/chatd-<timestamp>.tar.gz`. */
  out?: string;
  signal?: AbortSignal;
  onProgress?: (progress: BackupProgress) => void;
}

/** A backup refused before it started (a bad --out): no backup was attempted, so none failed. */
export class BackupRefused extends Error {
  override name = 'BackupRefused';
}

export interface BackupResult {
  file: string;
  size: number;
  manifest: Manifest;
}

export function uploadsDirectory(dataDir: string): string {
  return join(dataDir, 'uploads');
}

/** Regular files below `dir` as `/`-separated relative paths, in a stable order. */
async function* walk(dir: string, prefix = ''): AsyncGenerator<string> {
  let handle;
  try {
    handle = await opendir(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  const entries: { name: string; directory: boolean; file: boolean }[] = [];
  for await (const entry of handle) entries.push({ name: entry.name, directory: entry.isDirectory(), file: entry.isFile() });
  entries.sort((a, b) => a.name.localeCompare(b.name));
  for (const entry of entries) {
    const relative = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (entry.directory) yield* walk(join(dir, entry.name), relative);
    else if (entry.file) yield relative;
  }
}

/**
 * Writes one archive of the whole database and the uploads directory. The documents come first, in
 * the order CollectionsRepo.list gives (children before parents), then the uploads: a file row in
 * the archive therefore always finds its bytes, which were written before the row.
 */
export async function createBackup(options: BackupOptions): Promise<BackupResult> {
  const { collections, signal } = options;
  const createdAt = new Date();
  let finalPath: string;
  if (options.out) {
    finalPath = resolve(options.out);
  } else {
    await ensureBackupDir(options.backupDir);
    finalPath = join(options.backupDir, defaultArchiveName(createdAt));
  }
  if (await stat(finalPath).then(() => true, () => false)) throw new BackupRefused(`${finalPath} already exists; choose another --out`);
  if (!(await stat(dirname(finalPath)).then((info) => info.isDirectory(), () => false))) throw new BackupRefused(`directory ${dirname(finalPath)} does not exist`);

  const names = await collections.list();
  const migrations = await collections.appliedMigrations();
  let totalDocuments = 0;
  for (const name of names) totalDocuments += await collections.estimatedCount(name);

  const writer = new ArchiveWriter(partialPath(finalPath));
  const entries: Record<string, EntryDigest> = {};
  const progress: BackupProgress = { phase: 'collections', documents: 0, totalDocuments, files: 0, bytes: 0 };
  const report = () => options.onProgress?.({ ...progress });
  // Whatever was stored before the first collection is read is in the archive.
  const snapshotAt = new Date();
  try {
    const manifestCollections: ManifestCollection[] = [];
    for (const name of names) {
      signal?.throwIfAborted();
      progress.collection = name;
      report();
      const collection: ManifestCollection = { name, count: 0, indexes: await collections.indexes(name), entries: [] };
      let lines: string[] = [];
      let pending = 0;
      const flush = async () => {
        const entry = collectionEntryName(name, collection.entries.length + 1);
        entries[entry] = await writer.addBuffer(entry, Buffer.from(lines.join(''), 'utf8'));
        collection.entries.push(entry);
        progress.bytes += pending;
        lines = [];
        pending = 0;
        report();
      };
      for await (const line of collections.documents(name)) {
        lines.push(line + '\n');
        pending += Buffer.byteLength(line) + 1;
        collection.count += 1;
        progress.documents += 1;
        if (pending >= PART_BYTES) {
          signal?.throwIfAborted();
          await flush();
        }
      }
      if (lines.length > 0) await flush();
      manifestCollections.push(collection);
    }

    progress.phase = 'uploads';
    progress.collection = undefined;
    const uploadsDir = uploadsDirectory(options.dataDir);
    let uploadBytes = 0;
    for await (const relative of walk(uploadsDir)) {
      signal?.throwIfAborted();
      const path = join(uploadsDir, relative);
      const info = await stat(path);
      const entry = uploadEntryName(relative);
      const source = info.size > 0 ? createReadStream(path, { start: 0, end: info.size - 1 }) : [];
      entries[entry] = await writer.addStream(entry, info.size, source, { mode: info.mode & 0o777, mtime: info.mtime });
      uploadBytes += info.size;
      progress.files += 1;
      progress.bytes += info.size;
      report();
    }

    progress.phase = 'finishing';
    report();
    const manifest: Manifest = {
      format: ARCHIVE_FORMAT,
      formatVersion: ARCHIVE_FORMAT_VERSION,
      chatdVersion: version,
      createdAt: createdAt.toISOString(),
      finishedAt: new Date().toISOString(),
      snapshotAt: snapshotAt.toISOString(),
      database: { kind: options.databaseKind, name: collections.databaseName },
      migrations,
      lastMigration: migrations.at(-1) ?? null,
      collections: manifestCollections,
      uploads: { files: progress.files, bytes: uploadBytes },
      entries,
    };
    await writer.addBuffer(MANIFEST_ENTRY, Buffer.from(JSON.stringify(manifest, null, 2) + '\n', 'utf8'));
    await writer.finish();
    await publish(writer.path, finalPath);
    return { file: finalPath, size: (await stat(finalPath)).size, manifest };
  } catch (error) {
    await writer.abort();
    throw error;
  }
}

/** Takes a backup and records its outcome in the backups directory, where `chatd doctor` reads it. */
export async function backupAndRecord(options: BackupOptions & { trigger: BackupTrigger }): Promise<BackupResult> {
  const started = new Date();
  try {
    const result = await createBackup(options);
    await recordBackupAttempt(options.dataDir, {
      at: started.toISOString(),
      trigger: options.trigger,
      ok: true,
      durationMs: Date.now() - started.getTime(),
      file: result.file,
      size: result.size,
    });
    return result;
  } catch (error) {
    // An interrupted run (chatd stopping) or a refused destination says nothing about whether backups work.
    if (options.signal?.aborted || error instanceof BackupRefused) throw error;
    await recordBackupAttempt(options.dataDir, {
      at: started.toISOString(),
      trigger: options.trigger,
      ok: false,
      durationMs: Date.now() - started.getTime(),
      error: (error as Error).message,
    }).catch(() => undefined);
    throw error;
  }
}
