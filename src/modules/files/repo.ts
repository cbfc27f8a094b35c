import type { Collection, Db, ObjectId } from 'mongodb';
import type { FileDocument } from './types.js';

/** The `files` collection. */
export class FilesRepo {
  private readonly files: Collection<FileDocument>;

  constructor(db: Db) {
    this.files = db.collection<FileDocument>('files');
  }

  /** Records an uploaded file. */
  async insert(file: FileDocument): Promise<void> {
    await this.files.insertOne(file);
  }

  /** One file by id, or null. */
  findById(id: ObjectId): Promise<FileDocument | null> {
    return this.files.findOne({ _id: id });
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
}
