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

  /** Forgets a file; the one removed, or null. */
  deleteById(id: ObjectId): Promise<FileDocument | null> {
    return this.files.findOneAndDelete({ _id: id });
  }
}
