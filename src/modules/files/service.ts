import { fileTypeFromFile } from 'file-type';
import { ObjectId } from 'mongodb';
import type { ReadStream } from 'node:fs';
import { Forbidden, NotFound } from '../../errors.js';
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

/** Strips directories, control and reserved characters from a client's file name. */
export function sanitizeFileName(name: string | null | undefined): string {
  const base = (name ?? '').split(/[\\/]/).pop() ?? '';
  // eslint-disable-next-line no-control-regex
  const cleaned = base.normalize('NFC').replace(/[\u0000-\u001f\u007f"<>|:*?]/g, '').replace(/^[.\s]+/, '').trim();
  return cleaned.slice(0, 200) || 'file';
}

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
    logger: Logger,
  ) {
    this.log = logger.child({ component: 'files' });
  }

  /** Records a received upload; its type comes from its magic bytes. The stored bytes are removed if this fails. */
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
      };
      await this.repo.insert(file);
      return presentFile(file);
    } catch (error) {
      await this.storage.remove(received.storedName);
      throw error;
    }
  }

  /** The attachment a message carries: only a file its sender uploaded (a missing file answers the same). */
  async attachmentFor(fileId: string, userId: string) {
    const file = await this.repo.findById(new ObjectId(fileId));
    if (!file || file.ownerId.toHexString() !== userId) throw new Forbidden('Attach a file you uploaded');
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
