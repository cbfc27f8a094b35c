import { Binary, type Collection, type Db, type ObjectId } from 'mongodb';

/** A picture a user uploaded as their avatar: small (the web app scales it down first), so it lives in the database and is backed up with it. */
export interface AvatarDocument {
  /** The user's id: one picture per user. */
  _id: ObjectId;
  mimeType: string;
  data: Binary;
  updatedAt: Date;
}

/** The `avatars` collection. */
export class AvatarsRepo {
  private readonly avatars: Collection<AvatarDocument>;

  constructor(db: Db) {
    this.avatars = db.collection<AvatarDocument>('avatars');
  }

  /** Stores the user's picture in place of any earlier one. */
  async put(userId: ObjectId, mimeType: string, bytes: Buffer, at: Date): Promise<void> {
    await this.avatars.replaceOne({ _id: userId }, { mimeType, data: new Binary(bytes), updatedAt: at }, { upsert: true });
  }

  /** The user's uploaded picture, or null. */
  findByUser(userId: ObjectId): Promise<AvatarDocument | null> {
    return this.avatars.findOne({ _id: userId });
  }

  /** Forgets the user's picture (they chose another avatar). */
  async deleteByUser(userId: ObjectId): Promise<void> {
    await this.avatars.deleteOne({ _id: userId });
  }
}
