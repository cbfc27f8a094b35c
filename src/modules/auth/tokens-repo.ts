import { MongoServerError, type Collection, type Db, type ObjectId } from 'mongodb';

export type TokenKind = 'refresh' | 'revoked-access' | 'revoked-family' | 'password-reset';

/**
 * One entry of the `tokens` collection. `_id` is `<prefix>:<id>`: `refresh:<jti>`,
 * `access:<jti>` (revoked), `family:<family>` (revoked), `reset:<sha256 of the token>`.
 * Every entry expires and is swept by cron after `expiresAt`.
 */
export interface TokenDocument {
  _id: string;
  kind: TokenKind;
  userId: ObjectId;
  family?: string;
  expiresAt: Date;
  createdAt: Date;
}

export const tokenId = {
  refresh: (jti: string) => `refresh:${jti}`,
  revokedAccess: (jti: string) => `access:${jti}`,
  revokedFamily: (family: string) => `family:${family}`,
  reset: (digest: string) => `reset:${digest}`,
};

const isDuplicate = (error: unknown) => error instanceof MongoServerError && error.code === 11000;

/**
 * The `tokens` collection. Single use is enforced with the two operations the embedded FerretDB
 * performs atomically (measured): an insert under a unique `_id` and the count a `deleteOne`
 * reports. Conditional updates (`usedAt: null` → now) are not atomic there: 20 concurrent
 * claims of one token let 3 through.
 */
export class TokensRepo {
  private readonly tokens: Collection<TokenDocument>;

  constructor(db: Db) {
    this.tokens = db.collection<TokenDocument>('tokens');
  }

  /** Records an entry; an existing one with the same id is left as it is (revocations are idempotent). */
  async insert(entry: Omit<TokenDocument, 'createdAt'>): Promise<void> {
    try {
      await this.tokens.insertOne({ ...entry, createdAt: new Date() });
    } catch (error) {
      if (!isDuplicate(error)) throw error;
    }
  }

  /** One entry by id, or null. */
  findById(id: string): Promise<TokenDocument | null> {
    return this.tokens.findOne({ _id: id });
  }

  /** Which of these ids exist (revocation entries are looked up together). */
  async existing(ids: string[]): Promise<Set<string>> {
    // One lookup per id, not one `$in`: the embedded database answers only an exact `_id` from
    // its index, and this runs for every authentication.
    const found = await Promise.all(ids.map((id) => this.tokens.findOne({ _id: id }, { projection: { _id: 1 } })));
    return new Set(found.flatMap((entry) => (entry ? [entry._id] : [])));
  }

  /** Every revocation entry (revoked access token or family) that has not expired. */
  async liveRevocations(): Promise<Array<{ id: string; expiresAt: Date }>> {
    const entries = await this.tokens
      .find({ kind: { $in: ['revoked-access', 'revoked-family'] }, expiresAt: { $gt: new Date() } }, { projection: { expiresAt: 1 } })
      .toArray();
    return entries.map((entry) => ({ id: entry._id, expiresAt: entry.expiresAt }));
  }

  /** The refresh families a user has live tokens in. */
  async familiesOf(userId: ObjectId): Promise<string[]> {
    const entries = await this.tokens.find({ userId, kind: 'refresh' }, { projection: { family: 1 } }).toArray();
    return [...new Set(entries.map((entry) => entry.family).filter((family): family is string => typeof family === 'string'))];
  }

  /** Deletes one entry; true only for the one caller that actually removed it (the single-use claim). */
  async take(id: string): Promise<boolean> {
    const result = await this.tokens.deleteOne({ _id: id });
    return result.deletedCount === 1;
  }

  /** Deletes the refresh tokens of a family. */
  async deleteFamily(family: string): Promise<void> {
    await this.tokens.deleteMany({ kind: 'refresh', family });
  }

  /** Deletes a user's entries of one kind (e.g. outstanding password-reset tokens). */
  async deleteForUser(userId: ObjectId, kind: TokenKind): Promise<void> {
    await this.tokens.deleteMany({ userId, kind });
  }

  /** Deletes every entry that expired before `now`; returns how many. */
  async deleteExpired(now: Date): Promise<number> {
    const result = await this.tokens.deleteMany({ expiresAt: { $lt: now } });
    return result.deletedCount;
  }
}
