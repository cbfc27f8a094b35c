import { fileTypeFromFile } from 'file-type';
import { ObjectId } from 'mongodb';
import type { ReadStream } from 'node:fs';
import { Forbidden, NotFound, QuotaExceeded } from '../../errors.js';
import { formatBytes } from '../../format.js';
import type { Limit } from '../../http/rate-limit.js';
import type { Logger } from '../../logger.js';
import type { FilesRepo } from './repo.js';
import type { FileStorage } from './storage.js';
import type { FileDocument } from './types.js';

/** Where a file is shared: rooms with a message (not deleted) carrying it. The messages module answers. */
export interface FileShares {
  roomsSharing(fileId: ObjectId): Promise<ObjectId[]>;
}

/** Whether a user is in a room; the rooms module answers. */
export type IsMember = (roomId: string, userId: string) => Promise<boolean>;

/** An upload the body parser has written to storage. */
export interface ReceivedFile {
  storedName: string;
  originalName: string | null | undefined;
  size: number;
  sha256: string;
}

// Image types a browser renders without running anything; everything else is a download.
const inlineTypes = new Set(['image/png', 'image/jpeg', 'image/gif', 'image/webp', 'image/avif']);

/**
 * Strips directories, control, formatting and reserved characters from a client's file name.
 * Formatting characters include the bidirectional overrides and isolates (U+202A-U+202E,
 * U+2066-U+2069) that make "invoice\u202Egpj.exe" display as "invoiceexe.jpg", and zero-width
 * characters that make two names look alike; line and paragraph separators would break a listing.
 */
export function sanitizeFileName(name: string | null | undefined): string {
  const base = (name ?? '').split(/[\\/]/).pop() ?? '';
  const cleaned = base.normalize('NFC').replace(/[\p{Cc}\p{Cf}\p{Cs}\p{Zl}\p{Zp}"<>|:*?]/gu, '').replace(/^[.\s]+/, '').trim();
  return cleaned.slice(0, 200) || 'file';
}

/** What limits uploads per user. */
export interface UploadPolicy {
  /** Bytes one user's files may take in all (UPLOAD_QUOTA_BYTES); 0: no quota. */
  quotaBytes: number;
  /** Uploads per user and window (RATE_LIMIT_UPLOAD). */
  rate: Limit;
}

/** How many unattached uploads one sweep reads at a time. */
const SWEEP_BATCH = 200;

export function presentFile(file: FileDocument) {
  const fileId = file._id.toHexString();
  return { fileId, fileName: file.fileName, fileSize: file.size, fileUrl: `/api/files/${fileId}`, mimeType: file.mimeType };
}

/** Uploads: what they are (by their bytes), who may read them, and when they go away. */
export class FilesService {
  private readonly log: Logger;

  constructor(
    private readonly repo: FilesRepo,
    private readonly storage: FileStorage,
    private readonly shares: FileShares,
    private readonly isMember: IsMember,
    private readonly policy: UploadPolicy,
    logger: Logger,
  ) {
    this.log = logger.child({ component: 'files' });
  }

  /**
   * Before an upload's bytes are read: counts it against the user's upload rate, and refuses it
   * when the user's files already fill the quota (no point in writing what will be refused).
   */
  async admit(ownerId: string): Promise<void> {
    await this.policy.rate.consume(ownerId);
    if (this.policy.quotaBytes <= 0) return;
    const used = await this.repo.bytesOwnedBy(new ObjectId(ownerId));
    if (used >= this.policy.quotaBytes) throw this.overQuota(used, 0);
  }

  /**
   * Records a received upload; its type comes from its magic bytes. Refused when it would take
   * the user's files over the quota. The stored bytes are removed if this fails.
   */
  async accept(ownerId: string, received: ReceivedFile) {
    try {
      const detected = await fileTypeFromFile(this.storage.pathOf(received.storedName));
      const file: FileDocument = {
        _id: new ObjectId(),
        ownerId: new ObjectId(ownerId),
        fileName: sanitizeFileName(received.originalName),
        storedName: received.storedName,
        mimeType: detected?.mime ?? 'application/octet-stream',
        size: received.size,
        sha256: received.sha256,
        createdAt: new Date(),
        unattached: true,
      };
      const { inserted, usedBytes } = await this.repo.insertWithinQuota(file, this.policy.quotaBytes);
      if (!inserted) throw this.overQuota(usedBytes, file.size);
      return presentFile(file);
    } catch (error) {
      await this.storage.remove(received.storedName);
      throw error;
    }
  }

  /**
   * The attachment a message carries: only a file its sender uploaded (a missing file answers the
   * same). The file is marked attached before the message is stored, so the sweep of unattached
   * uploads can no longer take it.
   */
  async attachmentFor(fileId: string, userId: string) {
    const file = await this.repo.findById(new ObjectId(fileId));
    if (!file || file.ownerId.toHexString() !== userId) throw new Forbidden('Attach a file you uploaded');
    if (file.unattached && !(await this.repo.markAttached(file._id))) throw new Forbidden('Attach a file you uploaded');
    const presented = presentFile(file);
    return { ...presented, fileId: file._id };
  }

  /** The file's bytes for its uploader and members of rooms where it is shared; NotFound for everyone else, whether it exists or not. */
  async open(fileId: string, userId: string): Promise<{ file: ReturnType<typeof presentFile>; inline: boolean; stream: ReadStream }> {
    const id = new ObjectId(fileId);
    const file = await this.repo.findById(id);
    if (!file) throw new NotFound('File not found');
    if (file.ownerId.toHexString() !== userId) {
      const rooms = await this.shares.roomsSharing(id);
      const memberships = await Promise.all(rooms.map((roomId) => this.isMember(roomId.toHexString(), userId)));
      if (!memberships.includes(true)) throw new NotFound('File not found');
    }
    const stream = this.storage.open(file.storedName);
    await new Promise<void>((resolve, reject) => {
      stream.once('open', () => resolve());
      stream.once('error', (error: NodeJS.ErrnoException) => reject(error.code === 'ENOENT' ? new NotFound('File not found') : error));
    });
    return { file: presentFile(file), inline: inlineTypes.has(file.mimeType), stream };
  }

  /**
   * Deletes uploads no message has carried that were made before `cutoff`, row first, then the
   * bytes (a crash in between leaves unused bytes, never a row without them). How many went.
   */
  async removeUnattached(cutoff: Date, signal?: AbortSignal): Promise<number> {
    let removed = 0;
    for (let more = true; more; ) {
      signal?.throwIfAborted();
      const ids = await this.repo.unattachedBefore(cutoff, SWEEP_BATCH);
      let removedNow = 0;
      for (const id of ids) {
        const file = await this.repo.deleteUnattached(id, cutoff);
        if (!file) continue;
        await this.storage.remove(file.storedName);
        removedNow += 1;
      }
      removed += removedNow;
      // A full batch of which nothing went (all attached meanwhile) would come back the same: stop.
      more = ids.length === SWEEP_BATCH && removedNow > 0;
    }
    return removed;
  }

  private overQuota(usedBytes: number, addedBytes: number): QuotaExceeded {
    const quota = formatBytes(this.policy.quotaBytes);
    const what = addedBytes > 0 ? `This file (${formatBytes(addedBytes)}) would take your uploads to ${formatBytes(usedBytes + addedBytes)}` : `Your uploads take ${formatBytes(usedBytes)}`;
    return new QuotaExceeded(`${what}, over your storage quota of ${quota} (UPLOAD_QUOTA_BYTES). Deleting messages that carry your files frees their space; uploads never sent are removed after a while.`);
  }

  /**
   * After a message carrying the file was deleted: if no other message shares it, the file goes,
   * bytes and all (the row first: a crash in between leaves unused bytes, never a row without
   * them). True when it went.
   */
  async releaseIfUnshared(fileId: ObjectId): Promise<boolean> {
    if ((await this.shares.roomsSharing(fileId)).length > 0) return false;
    const file = await this.repo.deleteById(fileId);
    if (!file) return false;
    await this.storage.remove(file.storedName);
    this.log.info({ fileId: fileId.toHexString() }, 'removed a file no message shares any more');
    return true;
  }
}
