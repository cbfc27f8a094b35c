import { BSON, type Db } from 'mongodb';
import { expect } from 'vitest';

/** The collections accounts write. */
export const ACCOUNT_COLLECTIONS = ['users', 'tokens', 'identities'];

/** Every document of the given collections, in a stable order, as Extended JSON. */
export async function snapshot(db: Db, collections = ACCOUNT_COLLECTIONS): Promise<string> {
  const parts: Record<string, unknown[]> = {};
  for (const name of collections) {
    const documents = await db.collection(name).find({}).toArray();
    parts[name] = documents.map((doc) => BSON.EJSON.stringify(doc, { relaxed: false })).sort();
  }
  return JSON.stringify(parts);
}

/** Runs `action` and asserts that the accounts collections (or the given ones) are exactly as before it. */
export async function expectNoChange<T>(db: Db, action: () => Promise<T>, collections = ACCOUNT_COLLECTIONS): Promise<T> {
  const before = await snapshot(db, collections);
  const result = await action();
  expect(await snapshot(db, collections), 'the database changed').toBe(before);
  return result;
}
