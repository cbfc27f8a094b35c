import { createHash } from 'node:crypto';
import { ArchiveDamaged, readArchive, readBody } from './archive.js';
import { PART_BYTES } from './backup.js';
import { ARCHIVE_FORMAT, ARCHIVE_FORMAT_VERSION, isCollectionEntry, MANIFEST_ENTRY, manifestSchema, uploadRelativePath, type Manifest } from './manifest.js';

// A part holds whole documents and is cut once it passes PART_BYTES, so it is at most that plus one
// document (16 MiB of BSON, a few times that as Extended JSON).
const PART_LIMIT = PART_BYTES + 128 * 1024 * 1024;
const MANIFEST_LIMIT = 256 * 1024 * 1024;
const NEWLINE = 0x0a;

interface Seen {
  sha256: string;
  size: number;
  lines: number;
  endsWithNewline: boolean;
}

export interface VerifiedArchive {
  manifest: Manifest;
  documents: number;
}

function parseManifest(body: Buffer): Manifest {
  let raw: unknown;
  try {
    raw = JSON.parse(body.toString('utf8'));
  } catch {
    throw new ArchiveDamaged('the manifest is not valid JSON');
  }
  if ((raw as { format?: unknown })?.format !== ARCHIVE_FORMAT) throw new ArchiveDamaged('not a chatd backup (the manifest names another format)');
  const version = (raw as { formatVersion?: unknown }).formatVersion;
  if (typeof version === 'number' && version > ARCHIVE_FORMAT_VERSION) {
    throw new ArchiveDamaged(`the archive uses backup format ${version}, newer than this chatd understands (${ARCHIVE_FORMAT_VERSION}): upgrade chatd`);
  }
  const parsed = manifestSchema.safeParse(raw);
  if (!parsed.success) throw new ArchiveDamaged(`the manifest is malformed (${parsed.error.issues[0]?.path.join('.') ?? ''}: ${parsed.error.issues[0]?.message ?? ''})`);
  return parsed.data;
}

/**
 * Reads the whole archive and checks it against its manifest: every entry's SHA-256 and size, no
 * entry missing or extra, document counts, and gzip's own checksum. Touches nothing else.
 */
export async function verifyArchive(path: string): Promise<VerifiedArchive> {
  const seen = new Map<string, Seen>();
  let manifest: Manifest | undefined;
  for await (const entry of readArchive(path)) {
    if (manifest) throw new ArchiveDamaged(`entry ${entry.name} follows the manifest, which must come last`);
    if (entry.name === MANIFEST_ENTRY) {
      manifest = parseManifest(await readBody(entry, MANIFEST_LIMIT));
      continue;
    }
    if (entry.type !== 'file') throw new ArchiveDamaged(`entry ${entry.name} is a ${entry.type}; a chatd backup holds only files`);
    const collectionPart = isCollectionEntry(entry.name);
    if (!collectionPart && !uploadRelativePath(entry.name)) throw new ArchiveDamaged(`unexpected entry ${entry.name}`);
    if (seen.has(entry.name)) throw new ArchiveDamaged(`entry ${entry.name} appears twice`);
    if (collectionPart && entry.size > PART_LIMIT) throw new ArchiveDamaged(`entry ${entry.name} is ${entry.size} bytes, more than a chatd backup ever writes`);
    const hash = createHash('sha256');
    const record: Seen = { sha256: '', size: 0, lines: 0, endsWithNewline: true };
    for await (const chunk of entry.body) {
      hash.update(chunk);
      record.size += chunk.length;
      if (collectionPart) {
        for (let index = chunk.indexOf(NEWLINE); index !== -1; index = chunk.indexOf(NEWLINE, index + 1)) record.lines += 1;
        if (chunk.length > 0) record.endsWithNewline = chunk[chunk.length - 1] === NEWLINE;
      }
    }
    record.sha256 = hash.digest('hex');
    seen.set(entry.name, record);
  }
  if (!manifest) throw new ArchiveDamaged('the archive has no manifest (it is truncated or not a chatd backup)');

  for (const [name, expected] of Object.entries(manifest.entries)) {
    const actual = seen.get(name);
    if (!actual) throw new ArchiveDamaged(`entry ${name} is listed in the manifest but missing from the archive`);
    if (actual.size !== expected.size) throw new ArchiveDamaged(`entry ${name} is ${actual.size} bytes, the manifest says ${expected.size}`);
    if (actual.sha256 !== expected.sha256) throw new ArchiveDamaged(`entry ${name} does not match its SHA-256 checksum (the archive is corrupted)`);
  }
  for (const name of seen.keys()) {
    if (!(name in manifest.entries)) throw new ArchiveDamaged(`entry ${name} is not listed in the manifest`);
  }
  let documents = 0;
  const owned = new Set<string>();
  for (const collection of manifest.collections) {
    let lines = 0;
    for (const name of collection.entries) {
      const part = seen.get(name);
      if (!part || !isCollectionEntry(name) || owned.has(name)) throw new ArchiveDamaged(`collection ${collection.name} lists a bad part ${name}`);
      if (!part.endsWithNewline) throw new ArchiveDamaged(`entry ${name} ends in the middle of a document`);
      owned.add(name);
      lines += part.lines;
    }
    if (lines !== collection.count) throw new ArchiveDamaged(`collection ${collection.name} holds ${lines} documents, the manifest says ${collection.count}`);
    documents += lines;
  }
  for (const name of seen.keys()) {
    if (isCollectionEntry(name) && !owned.has(name)) throw new ArchiveDamaged(`entry ${name} belongs to no collection in the manifest`);
  }
  const uploads = [...seen.keys()].filter((name) => !isCollectionEntry(name)).length;
  if (uploads !== manifest.uploads.files) throw new ArchiveDamaged(`the archive holds ${uploads} uploads, the manifest says ${manifest.uploads.files}`);
  return { manifest, documents };
}
