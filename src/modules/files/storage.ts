import { randomBytes } from 'node:crypto';
import { createReadStream, mkdirSync, type ReadStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { basename, join } from 'node:path';

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

  /** Refuses a name that is not a plain file name: only a tampered database holds one, and it must not reach outside. */
  pathOf(storedName: string): string {
    if (!storedName || storedName === '.' || storedName === '..' || basename(storedName) !== storedName || storedName.includes('\\')) {
      throw new Error(`stored file name ${JSON.stringify(storedName)} is not a file in the uploads directory`);
    }
    return join(this.dir, storedName);
  }

  open(storedName: string): ReadStream {
    return createReadStream(this.pathOf(storedName));
  }

  async remove(storedName: string): Promise<void> {
    await rm(this.pathOf(storedName), { force: true });
  }
}
