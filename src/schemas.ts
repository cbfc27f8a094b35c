import { z } from 'zod';

// Input pieces shared by the modules' request and event schemas. Strings only: an operator object
// such as {"$gt": ""} in an id field fails here, before it could reach a query.

/** A 24-hex ObjectId as text, lower-cased so it can key in-memory maps. */
export const objectIdString = z
  .string()
  .regex(/^[0-9a-fA-F]{24}$/, 'must be a 24-character hexadecimal id')
  .transform((value) => value.toLowerCase());

/** Route parameters of `/…/:id` paths. */
export const IdParams = z.strictObject({ id: objectIdString });

export const pageNumber = z.coerce.number({ error: 'must be a number' }).int('must be a whole number').min(1, 'must be 1 or more').max(1_000_000);

/** `limit` for paginated lists: 1–100. */
export function pageLimit(fallback: number) {
  return z.coerce.number({ error: 'must be a number' }).int('must be a whole number').min(1, 'must be 1 or more').max(100, 'must be at most 100').default(fallback);
}
