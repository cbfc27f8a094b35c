import type { Collection, Db, ObjectId } from 'mongodb';
import { KeyedLock } from '../../db/keyed-lock.js';
import type { FileDocument } from './types.js';

/** The `files` collection. */
export class FilesRepo {
  private readonly files: Collection<FileDocument>;
  // Marking a file attached and deleting it as unattached must not interleave: FerretDB applies
  // neither atomically (see KeyedLock), so both run one at a time per file id.
  private readonly perFile = new KeyedLock();
  private readonly perOwner = new KeyedLock();

  constructor(db: Db) {
    this.files = db.collection<FileDocument>('files');
  }

  /** Records an uploaded file. */
  async insert(file: FileDocument): Promise<void> {
    await this.files.insertOne(file);
  }

  /**
   * Records an uploaded file unless its owner's files would then take more than `quotaBytes`
   * (0: no quota); the bytes the owner's files take without it either way. One owner's inserts
   * run one at a time, so parallel uploads cannot each pass the check on the same total.
   */
  insertWithinQuota(file: FileDocument, quotaBytes: number): Promise<{ inserted: boolean; usedBytes: number }> {
    return this.perOwner.run(file.ownerId.toHexString(), async () => {
      const usedBytes = quotaBytes > 0 ? await this.bytesOwnedBy(file.ownerId) : 0;
      if (quotaBytes > 0 && usedBytes + file.size > quotaBytes) return { inserted: false, usedBytes };
      await this.insert(file);
      return { inserted: true, usedBytes };
    });
  }

  /** One file by id, or null. */
  findById(id: ObjectId): Promise<FileDocument | null> {
    return this.files.findOne({ _id: id });
  }

  /** Bytes of all files one user uploaded (the `owner` index). */
  async bytesOwnedBy(ownerId: ObjectId): Promise<number> {
    const [total] = await this.files.aggregate<{ bytes: number }>([{ $match: { ownerId } }, { $group: { _id: null, bytes: { $sum: '$size' } } }]).toArray();
    return total?.bytes ?? 0;
  }

  /** Ids of up to `limit` files uploaded before `cutoff` that no message has carried yet. */
  async unattachedBefore(cutoff: Date, limit: number): Promise<ObjectId[]> {
    const rows = await this.files.find({ unattached: true, createdAt: { $lt: cutoff } }, { projection: { _id: 1 }, limit }).toArray();
    return rows.map((row) => row._id);
  }

  /** Notes that a message carries the file; false when the file is gone. */
  markAttached(id: ObjectId): Promise<boolean> {
    return this.perFile.run(id.toHexString(), async () => {
      const file = await this.files.findOne({ _id: id });
      if (!file) return false;
      if (file.unattached) await this.files.updateOne({ _id: id }, { $unset: { unattached: '' } });
      return true;
    });
  }

  /** Forgets a file; the one removed, or null when it was not there or another caller removed it first. */
  async deleteById(id: ObjectId): Promise<FileDocument | null> {
    // Not findOneAndDelete: FerretDB hands the document to several concurrent callers. deleteOne
    // reports the deletion to exactly one of them.
    const file = await this.files.findOne({ _id: id });
    if (!file) return null;
    const { deletedCount } = await this.files.deleteOne({ _id: id });
    return deletedCount === 1 ? file : null;
  }

  /** Forgets a file if it is still unattached and was uploaded before `cutoff`; the one removed, or null. */
  deleteUnattached(id: ObjectId, cutoff: Date): Promise<FileDocument | null> {
    return this.perFile.run(id.toHexString(), async () => {
      const file = await this.files.findOne({ _id: id });
      if (!file?.unattached || file.createdAt >= cutoff) return null;
      return this.deleteById(id);
    });
  }
}
