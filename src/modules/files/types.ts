import type { ObjectId } from 'mongodb';

/** An uploaded file as stored (docs/data-model.md); the bytes live at `$CHATD_DATA_DIR/uploads/<storedName>`. */
export interface FileDocument {
  _id: ObjectId;
  ownerId: ObjectId;
  /** The client's name for it, sanitised: shown and offered on download, never used as a path. */
  fileName: string;
  storedName: string;
  /** From the file's magic bytes, not from the client. */
  mimeType: string;
  size: number;
  sha256: string;
  createdAt: Date;
  /**
   * Set on upload and removed when a message first carries the file: an upload that still has it
   * after UPLOAD_UNATTACHED_TTL is deleted. Files stored before the flag existed lack it and are
   * never taken for unattached.
   */
  unattached?: true;
}
