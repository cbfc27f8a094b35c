import { z } from 'zod';

// The archive is a gzip tar: `collections/<name>/<part>.jsonl` (one canonical Extended JSON document
// per line, in parts of a few MiB so neither side ever holds a whole collection), `uploads/<path>`
// (the uploads directory, byte for byte), and `manifest.json` last, because it carries the SHA-256
// of every entry before it.

export const MANIFEST_ENTRY = 'manifest.json';
export const ARCHIVE_FORMAT = 'chatd-backup';
export const ARCHIVE_FORMAT_VERSION = 1;

const sha256 = z.string().regex(/^[0-9a-f]{64}$/);

const collectionSchema = z.strictObject({
  name: z.string().min(1),
  count: z.number().int().nonnegative(),
  /** Index definitions as listIndexes gave them (relaxed Extended JSON), `_id_` left out. */
  indexes: z.array(z.record(z.string(), z.unknown())),
  /** Its parts, in order. */
  entries: z.array(z.string()),
});

export const manifestSchema = z.strictObject({
  format: z.literal(ARCHIVE_FORMAT),
  formatVersion: z.number().int().positive(),
  chatdVersion: z.string(),
  createdAt: z.iso.datetime(),
  finishedAt: z.iso.datetime(),
  /** When the backup started reading: everything stored (every message acknowledged) before it is in the archive; later writes may be. */
  snapshotAt: z.iso.datetime(),
  database: z.strictObject({ kind: z.string(), name: z.string() }),
  /** Applied migration ids, in order; the last one is the schema the documents follow. */
  migrations: z.array(z.string()),
  lastMigration: z.string().nullable(),
  collections: z.array(collectionSchema),
  uploads: z.strictObject({ files: z.number().int().nonnegative(), bytes: z.number().int().nonnegative() }),
  entries: z.record(z.string(), z.strictObject({ sha256, size: z.number().int().nonnegative() })),
});

export type Manifest = z.infer<typeof manifestSchema>;
export type ManifestCollection = z.infer<typeof collectionSchema>;

/** Entry name of a collection part; the name is URI-encoded because collection names may hold `/`. */
export function collectionEntryName(collection: string, part: number): string {
  return `collections/${encodeURIComponent(collection)}/${String(part).padStart(6, '0')}.jsonl`;
}

/** Entry name of an uploaded file, by its path relative to the uploads directory (always `/`-separated). */
export function uploadEntryName(relativePath: string): string {
  return `uploads/${relativePath}`;
}

/** The path below the uploads directory an entry restores to, or undefined when the name could escape it. */
export function uploadRelativePath(entryName: string): string | undefined {
  if (!entryName.startsWith('uploads/')) return undefined;
  const relative = entryName.slice('uploads/'.length);
  const parts = relative.split('/');
  if (relative === '' || parts.some((part) => part === '' || part === '.' || part === '..' || part.includes('\\') || part.includes('\0'))) return undefined;
  return relative;
}

export function isCollectionEntry(entryName: string): boolean {
  return /^collections\/[^/]+\/\d{6}\.jsonl$/.test(entryName);
}
