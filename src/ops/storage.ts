import { statfs } from 'node:fs/promises';
import type { Logger } from '../logger.js';
import { isStorageFullError, StorageFull } from '../errors.js';

/** Free bytes for unprivileged writers on the file system holding `dir`. */
export async function freeBytes(dir: string): Promise<number> {
  const stats = await statfs(dir);
  return stats.bavail * stats.bsize;
}

/**
 * Whether new data can be stored: the data directory's file system (uploads, the embedded
 * database) has more than `reserveBytes` free, and no write failed for lack of space since it
 * was last checked. Checked every second, so a full disk is refused at once (507 / STORAGE_FULL)
 * instead of after a write times out, and writes resume by themselves once space is freed.
 */
export class StorageHealth {
  private fullReason: string | undefined;
  private lastFailureAt = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly log: Logger;

  constructor(
    private readonly dataDir: string,
    private readonly reserveBytes: number,
    logger: Logger,
  ) {
    this.log = logger.child({ component: 'storage' });
  }

  get full(): boolean {
    return this.fullReason !== undefined;
  }

  /** Why nothing can be stored, or undefined. */
  get reason(): string | undefined {
    return this.fullReason;
  }

  /** Throws STORAGE_FULL while the disk is full. */
  assertWritable(): void {
    if (this.fullReason) throw new StorageFull(`The server is out of storage space (${this.fullReason}); try again once an administrator has freed some`);
  }

  /** Records a failed write; true when it failed for lack of space. */
  noteFailure(error: unknown): boolean {
    if (!isStorageFullError(error)) return false;
    this.lastFailureAt = Date.now();
    this.set(`a write failed: ${(error as Error).message}`);
    return true;
  }

  async check(): Promise<void> {
    let free: number;
    try {
      free = await freeBytes(this.dataDir);
    } catch (error) {
      this.log.warn({ err: error }, 'cannot read the free space of the data directory');
      return;
    }
    if (free < this.reserveBytes) {
      this.set(`${Math.floor(free / 1024)} KiB free in ${this.dataDir}, below the ${Math.floor(this.reserveBytes / 1024)} KiB reserve (STORAGE_RESERVE_MB)`);
    } else if (this.fullReason && Date.now() - this.lastFailureAt > 2000) {
      // A failure with space free (quota, inodes) is tried again after a pause; it is set again if it recurs.
      this.log.warn({ free }, 'storage space is available again');
      this.fullReason = undefined;
    }
  }

  start(): void {
    void this.check();
    this.timer = setInterval(() => void this.check(), 1000);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  private set(reason: string): void {
    if (!this.fullReason) this.log.error({ reason }, 'out of storage space: refusing new messages and uploads until space is freed');
    this.fullReason = reason;
  }
}
