import { createHash } from 'node:crypto';
import type { Collection, Db } from 'mongodb';

/**
 * One (account, address) pair that signed in. `_id` is a SHA-256 of the e-mail and the address,
 * so the collection answers "has this account signed in from here?" without listing where
 * anyone signs in from.
 */
export interface KnownAddressDocument {
  _id: string;
  lastSignedInAt: Date;
}

/** How long an address an account signed in from stays exempt from the account's login limit. */
export const KNOWN_ADDRESS_MS = 30 * 86_400_000;

const pairId = (email: string, address: string) => createHash('sha256').update(`${email}\n${address}`).digest('hex');

/**
 * The `login_addresses` collection: where each account signed in from. Kept in the database, not
 * beside the rate limits (in memory on the embedded database), so a restart does not make every
 * owner a stranger to their own account while someone is guessing at it. Lookups are by exact
 * `_id`, which the embedded FerretDB answers without reading the collection.
 */
export class KnownAddressesRepo {
  private readonly pairs: Collection<KnownAddressDocument>;

  constructor(db: Db) {
    this.pairs = db.collection<KnownAddressDocument>('login_addresses');
  }

  /** Records (or refreshes) a successful sign-in of `email` from `address`. */
  async remember(email: string, address: string, at = new Date()): Promise<void> {
    await this.pairs.updateOne({ _id: pairId(email, address) }, { $set: { lastSignedInAt: at } }, { upsert: true });
  }

  /** Whether `email` signed in from `address` at or after `since`. */
  async knows(email: string, address: string, since: Date): Promise<boolean> {
    const pair = await this.pairs.findOne({ _id: pairId(email, address) });
    return pair !== null && pair.lastSignedInAt >= since;
  }

  /** Forgets pairs not used since `cutoff`; how many. */
  async deleteOlderThan(cutoff: Date): Promise<number> {
    const { deletedCount } = await this.pairs.deleteMany({ lastSignedInAt: { $lt: cutoff } });
    return deletedCount;
  }
}
