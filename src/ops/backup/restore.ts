import { createHash } from 'node:crypto';
import { mkdir, open, readdir, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { ArchiveDamaged, readArchive, readBody } from './archive.js';
import { uploadsDirectory } from './backup.js';
import type { CollectionsRepo } from './collections-repo.js';
import { isCollectionEntry, MANIFEST_ENTRY, uploadRelativePath, type Manifest } from './manifest.js';
import { verifyArchive } from './verify.js';

const INSERT_BATCH = 1000;

/** The restore would destroy or misread data, so it did nothing. */
export class RestoreRefused extends Error {
  override name = 'RestoreRefused';

  constructor(
    message: string,
    readonly hint?: string,
  ) {
    super(message);
  }
}

/** The restore stopped after it had started changing the database. */
export class RestoreFailed extends Error {
  override name = 'RestoreFailed';
}

export interface RestoreProgress {
  phase: 'verifying' | 'restoring' | 'migrating';
  documents: number;
  totalDocuments: number;
  files: number;
  totalFiles: number;
}

export interface RestoreOptions {
  file: string;
  collections: CollectionsRepo;
  dataDir: string;
  /** Replace a database that already holds data. */
  force: boolean;
  /** Migration ids this chatd knows: a backup that applied others came from a newer chatd. */
  knownMigrations: readonly string[];
  /** Applies migrations newer than the backup; returns their ids. */
  applyMigrations: () => Promise<string[]>;
  onProgress?: (progress: RestoreProgress) => void;
}

export interface RestoreResult {
  manifest: Manifest;
  documents: number;
  files: number;
  migrationsApplied: string[];
}

async function hasFiles(dir: string): Promise<boolean> {
  try {
    return (await readdir(dir)).length > 0;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
}

function checkDigest(manifest: Manifest, name: string, sha256: string, size: number): void {
  const expected = manifest.entries[name];
  if (!expected || expected.sha256 !== sha256 || expected.size !== size) {
    throw new ArchiveDamaged(`entry ${name} changed since the archive was verified: was the file modified during the restore?`);
  }
}

/** Refuses what must not be restored here; changes nothing. */
async function preflight(options: RestoreOptions, manifest: Manifest): Promise<void> {
  const unknown = manifest.migrations.filter((id) => !options.knownMigrations.includes(id));
  if (unknown.length > 0) {
    throw new RestoreRefused(
      `the backup was made by chatd ${manifest.chatdVersion}, whose database has migrations this chatd does not know (${unknown.join(', ')}); nothing was changed`,
      `restore it with chatd ${manifest.chatdVersion} or newer`,
    );
  }
  if (options.force) return;
  const occupied = await options.collections.nonEmpty();
  const uploads = await hasFiles(uploadsDirectory(options.dataDir));
  if (occupied.length > 0 || uploads) {
    const what = [...occupied.map((entry) => `${entry.name}: ${entry.count} document(s)`), ...(uploads ? [`${uploadsDirectory(options.dataDir)} holds files`] : [])];
    throw new RestoreRefused(`the database is not empty (${what.join(', ')}); nothing was changed`, 'add --force to replace everything in it with the backup');
  }
}

/**
 * Restores an archive: verifies all of it first (a damaged archive changes nothing), refuses a
 * database holding data unless forced, then recreates every collection with its indexes, inserts
 * the documents, swaps in the uploads and applies the migrations newer than the backup.
 */
export async function restoreBackup(options: RestoreOptions): Promise<RestoreResult> {
  const progress: RestoreProgress = { phase: 'verifying', documents: 0, totalDocuments: 0, files: 0, totalFiles: 0 };
  const report = () => options.onProgress?.({ ...progress });
  report();
  const { manifest, documents } = await verifyArchive(options.file);
  progress.totalDocuments = documents;
  progress.totalFiles = manifest.uploads.files;
  await preflight(options, manifest);

  const uploadsDir = uploadsDirectory(options.dataDir);
  const staging = `${uploadsDir}.restoring-${process.pid}`;
  const owner = new Map(manifest.collections.flatMap((collection) => collection.entries.map((entry) => [entry, collection.name] as const)));
  progress.phase = 'restoring';
  report();
  let changing = false;
  const restoredUploads = new Set<string>();
  try {
    await rm(staging, { recursive: true, force: true });
    await mkdir(staging, { recursive: true, mode: 0o700 });
    changing = true;
    await options.collections.dropAll();
    for (const collection of manifest.collections) await options.collections.create(collection.name, collection.indexes);

    for await (const entry of readArchive(options.file)) {
      if (entry.name === MANIFEST_ENTRY) continue;
      if (isCollectionEntry(entry.name)) {
        const body = await readBody(entry, Number.MAX_SAFE_INTEGER);
        checkDigest(manifest, entry.name, createHash('sha256').update(body).digest('hex'), body.length);
        const lines = body.toString('utf8').split('\n');
        lines.pop();
        const collection = owner.get(entry.name)!;
        for (let start = 0; start < lines.length; start += INSERT_BATCH) {
          const batch = lines.slice(start, start + INSERT_BATCH);
          await options.collections.insertLines(collection, batch);
          progress.documents += batch.length;
          report();
        }
        continue;
      }
      const relative = uploadRelativePath(entry.name)!;
      const target = join(staging, ...relative.split('/'));
      await mkdir(dirname(target), { recursive: true, mode: 0o700 });
      const handle = await open(target, 'wx', entry.mode & 0o777 || 0o600);
      const hash = createHash('sha256');
      let size = 0;
      try {
        for await (const chunk of entry.body) {
          hash.update(chunk);
          size += chunk.length;
          await handle.write(chunk);
        }
      } finally {
        await handle.close();
      }
      checkDigest(manifest, entry.name, hash.digest('hex'), size);
      restoredUploads.add(relative);
      progress.files += 1;
      report();
    }

    await options.collections.deleteAttachmentsWithoutBytes(restoredUploads, new Date());
    const replaced = `${uploadsDir}.replaced-${process.pid}`;
    const hadUploads = await readdir(uploadsDir).then(() => true, () => false);
    if (hadUploads) await rename(uploadsDir, replaced);
    await rename(staging, uploadsDir);
    if (hadUploads) await rm(replaced, { recursive: true, force: true });
  } catch (error) {
    await rm(staging, { recursive: true, force: true }).catch(() => undefined);
    if (!changing) throw new RestoreFailed(`restore could not start: ${(error as Error).message}; nothing was changed`);
    throw new RestoreFailed(
      `restore failed after the database was cleared: ${(error as Error).message}. The database is partly restored and the uploads directory is unchanged; fix the cause and run the restore again with --force`,
    );
  }

  progress.phase = 'migrating';
  report();
  let migrationsApplied: string[];
  try {
    migrationsApplied = await options.applyMigrations();
    // The backup carries the indexes of the engine it was taken on.
    await options.collections.fitIndexes();
  } catch (error) {
    throw new RestoreFailed(`the backup was restored, but applying the newer migrations failed: ${(error as Error).message}; run \`chatd migrate\` once the cause is fixed`);
  }
  return { manifest, documents, files: manifest.uploads.files, migrationsApplied };
}
