import { MongoServerError } from 'mongodb';

/** Whether a driver error is a unique-index violation (code 11000), the one write error repos translate. */
export function isDuplicateKey(error: unknown): boolean {
  return error instanceof MongoServerError && error.code === 11000;
}
