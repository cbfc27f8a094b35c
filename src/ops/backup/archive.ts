import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createGzip } from 'node:zlib';
import tar, { type Pack } from 'tar-stream';

type EntrySink = ReturnType<Pack['entry']>;

export interface EntryDigest {
  sha256: string;
  size: number;
}

/** The archive cannot be trusted: truncated, corrupted, or not a chatd backup. */
export class ArchiveDamaged extends Error {
  override name = 'ArchiveDamaged';
}

function drained(sink: EntrySink): Promise<void> {
  return new Promise((resolve) => sink.once('drain', resolve));
}

/**
 * Writes a gzip tar to a file it creates exclusively (mode 0600: backups hold password hashes).
 * Entries go through with backpressure, so memory stays flat whatever the archive's size.
 */
export class ArchiveWriter {
  private readonly pack = tar.pack();
  private readonly done: Promise<void>;
  /** Rejects when writing the file failed (disk full, ...): every wait races it so none hangs. */
  private readonly failed: Promise<never>;

  constructor(readonly path: string) {
    this.done = pipeline(this.pack, createGzip(), createWriteStream(path, { flags: 'wx', mode: 0o600 }));
    this.failed = this.done.then(() => new Promise<never>(() => undefined));
    this.failed.catch(() => undefined);
  }

  /** Adds an entry whose content is already in memory. */
  async addBuffer(name: string, content: Buffer): Promise<EntryDigest> {
    return this.addStream(name, content.length, [content]);
  }

  /** Adds an entry of exactly `size` bytes read from `source`, hashing it on the way. */
  async addStream(name: string, size: number, source: AsyncIterable<Buffer> | Iterable<Buffer>, header: { mode?: number; mtime?: Date } = {}): Promise<EntryDigest> {
    const hash = createHash('sha256');
    let sink!: EntrySink;
    const completed = new Promise<void>((resolve, reject) => {
      sink = this.pack.entry({ name, size, type: 'file', mode: header.mode ?? 0o600, mtime: header.mtime ?? new Date() }, (error) =>
        error ? reject(error) : resolve(),
      );
    });
    completed.catch(() => undefined);
    let written = 0;
    for await (const chunk of source) {
      written += chunk.length;
      if (written > size) throw new Error(`${name} grew while it was being archived`);
      hash.update(chunk);
      if (!sink.write(chunk)) await Promise.race([drained(sink), this.failed]);
    }
    if (written !== size) throw new Error(`${name} shrank while it was being archived (${written} of ${size} bytes)`);
    sink.end(undefined);
    await Promise.race([completed, this.failed]);
    return { sha256: hash.digest('hex'), size };
  }

  /** Ends the archive and makes it durable; the caller then renames it into place. */
  async finish(): Promise<void> {
    this.pack.finalize();
    await this.done;
    // fsync is per file, so a second descriptor makes what the stream wrote durable.
    const handle = await open(this.path, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  }

  /** Stops writing and deletes the partial file. */
  async abort(): Promise<void> {
    this.pack.destroy();
    await this.done.catch(() => undefined);
    await rm(this.path, { force: true });
  }
}

export interface ArchiveEntry {
  name: string;
  size: number;
  type: string;
  mode: number;
  /** Must be read to the end (or drained) before the next entry comes. */
  body: AsyncIterable<Buffer>;
}

/** Explains a stream failure of gunzip or tar in words an operator can act on. */
function damage(error: unknown): Error {
  const cause = error as Error & { code?: string };
  if (cause instanceof ArchiveDamaged) return cause;
  if (cause.code === 'ENOENT' || cause.code === 'EACCES' || cause.code === 'EISDIR') return cause;
  if (/incorrect header check/i.test(cause.message)) return new ArchiveDamaged('not a gzip archive');
  if (cause.code === 'Z_BUF_ERROR' || /unexpected end/i.test(cause.message)) return new ArchiveDamaged('the archive is truncated (unexpected end of file)');
  if (cause.code === 'Z_DATA_ERROR') return new ArchiveDamaged(`the archive is corrupted (${cause.message})`);
  return new ArchiveDamaged(`the archive cannot be read (${cause.message})`);
}

/** Reads a gzip tar entry by entry; damage anywhere, including gzip's own checksum at the end, throws ArchiveDamaged. */
export async function* readArchive(path: string): AsyncGenerator<ArchiveEntry> {
  const extract = tar.extract();
  const source = createReadStream(path);
  const flowing = pipeline(source, createGunzip(), extract);
  let streamError: unknown;
  flowing.catch((error: unknown) => {
    streamError = error;
  });
  // The body is read by the caller, outside this generator's try: its failures are translated here.
  async function* body(entry: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
    try {
      for await (const chunk of entry) yield chunk;
    } catch (error) {
      throw damage(streamError ?? error);
    }
  }
  try {
    for await (const entry of extract) {
      const { header } = entry;
      yield { name: header.name, size: header.size ?? 0, type: header.type ?? 'file', mode: header.mode ?? 0o600, body: body(entry as AsyncIterable<Buffer>) };
      // Whatever the consumer left unread is skipped so the next header can be parsed.
      entry.resume();
    }
    await flowing;
  } catch (error) {
    throw damage(streamError ?? error);
  } finally {
    source.destroy();
  }
}

/** Reads an entry's body into memory, refusing bodies larger than `limit`. */
export async function readBody(entry: ArchiveEntry, limit: number): Promise<Buffer> {
  if (entry.size > limit) throw new ArchiveDamaged(`entry ${entry.name} is ${entry.size} bytes, more than a chatd backup ever writes`);
  const chunks: Buffer[] = [];
  for await (const chunk of entry.body) chunks.push(chunk);
  return Buffer.concat(chunks);
}
