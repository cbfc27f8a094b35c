import { randomBytes } from 'node:crypto';
import { createReadStream, mkdirSync, type ReadStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * The bytes of uploads, as files under `$CHATD_DATA_DIR/uploads` named by random ids. Names
 * from clients never reach the file system, so no upload can land outside this directory.
 */
export class FileStorage {
  readonly dir: string;

  constructor(dataDir: string) {
    this.dir = join(dataDir, 'uploads');
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
  }

  /** A fresh name for an upload. */
  newName(): string {
    return randomBytes(16).toString('hex');
  }

  pathOf(storedName: string): string {
    return join(this.dir, storedName);
  }

  open(storedName: string): ReadStream {
    return createReadStream(this.pathOf(storedName));
  }

  async remove(storedName: string): Promise<void> {
    await rm(this.pathOf(storedName), { force: true });
  }
}
