import { MongoServerError, type Collection, type Db, type ObjectId } from 'mongodb';

export type OAuthProviderName = 'google' | 'github';

/** An OAuth account, keyed by provider and the provider's stable subject id (never by e-mail). */
export interface IdentityDocument {
  _id: string;
  provider: OAuthProviderName;
  subject: string;
  userId: ObjectId;
  /** The e-mail the provider reported at link time, for the record only. */
  email: string | null;
  createdAt: Date;
}

export const identityId = (provider: OAuthProviderName, subject: string) => `${provider}:${subject}`;

/** The `identities` collection. */
export class IdentitiesRepo {
  private readonly identities: Collection<IdentityDocument>;

  constructor(db: Db) {
    this.identities = db.collection<IdentityDocument>('identities');
  }

  /** Links a provider account to a user; false when that provider account is already linked. */
  async insert(identity: IdentityDocument): Promise<boolean> {
    try {
      await this.identities.insertOne(identity);
      return true;
    } catch (error) {
      if (error instanceof MongoServerError && error.code === 11000) return false;
      throw error;
    }
  }

  /** The identity for a provider account, or null. */
  find(provider: OAuthProviderName, subject: string): Promise<IdentityDocument | null> {
    return this.identities.findOne({ _id: identityId(provider, subject) });
  }

  /** Every identity of a user. */
  findByUser(userId: ObjectId): Promise<IdentityDocument[]> {
    return this.identities.find({ userId }).toArray();
  }
}
