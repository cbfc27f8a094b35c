import { rm } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { Logger } from '../../logger.js';
import type { ExpiredMessage, RetentionRepo } from './repo.js';

const BATCH = 500;
const DAY_MS = 86_400_000;

export interface RetentionOptions {
  repo: RetentionRepo;
  uploadsDir: string;
  /** RETENTION_DAYS; undefined keeps messages of rooms without their own setting forever. */
  globalDays: number | undefined;
  logger: Logger;
  now?: Date;
  signal?: AbortSignal;
  /** Awaited before the first delete. */
  beforeDeleting?(): Promise<void>;
  /** Called with each batch of messages once they are deleted. */
  onDeleted?(messages: ExpiredMessage[]): void;
}

export interface RetentionResult {
  messages: number;
  files: number;
}

/**
 * Deletes messages older than their room's retentionDays (else RETENTION_DAYS), in batches, then
 * the uploads those messages carried that no remaining message refers to. Only files of deleted
 * messages are candidates: a file uploaded but not yet sent, or used elsewhere, is never touched.
 */
export async function sweepRetention(options: RetentionOptions): Promise<RetentionResult> {
  const { repo, signal } = options;
  const now = (options.now ?? new Date()).getTime();
  const result: RetentionResult = { messages: 0, files: 0 };

  const drain = async (next: () => Promise<ExpiredMessage[]>) => {
    for (;;) {
      signal?.throwIfAborted();
      const batch = await next();
      if (batch.length === 0) return;
      await options.beforeDeleting?.();
      result.messages += await repo.deleteMessages(batch.map((message) => message.id));
      options.onDeleted?.(batch);
      const fileIds = new Map<string, unknown>();
      for (const message of batch) if (message.fileId != null) fileIds.set(String(message.fileId), message.fileId);
      for (const fileId of fileIds.values()) result.files += await removeIfUnreferenced(options, fileId);
      if (batch.length < BATCH) return;
    }
  };

  const own = await repo.roomsWithOwnRetention();
  for (const room of own) {
    if (room.retentionDays <= 0) continue;
    const cutoff = new Date(now - room.retentionDays * DAY_MS);
    await drain(() => repo.expiredInRoom(room.roomId, cutoff, BATCH));
  }
  if (options.globalDays !== undefined) {
    const cutoff = new Date(now - options.globalDays * DAY_MS);
    await drain(() => repo.expiredOutside(own.map((room) => room.roomId), cutoff, BATCH));
  }
  return result;
}

async function removeIfUnreferenced({ repo, uploadsDir, logger }: RetentionOptions, fileId: unknown): Promise<number> {
  if (await repo.fileReferenced(fileId)) return 0;
  const file = await repo.findFile(fileId);
  if (!file) return 0;
  // The row goes first: a crash in between leaves an unused file on disk, never a row without bytes.
  await repo.deleteFile(file.id);
  if (!file.storedName || basename(file.storedName) !== file.storedName || file.storedName === '..') {
    logger.warn({ fileId: String(file.id), storedName: file.storedName }, 'retention: a file row names a path outside the uploads directory; its bytes were left alone');
    return 1;
  }
  await rm(join(uploadsDir, file.storedName), { force: true });
  return 1;
}
