// Typed application errors. Every transport maps these once: REST to the error envelope with the
// status, the hub to an `error` frame, the CLI to a one-line message.

export type ErrorCode =
  | 'VALIDATION_FAILED'
  | 'UNAUTHORIZED'
  | 'FORBIDDEN'
  | 'NOT_FOUND'
  | 'CONFLICT'
  | 'PAYLOAD_TOO_LARGE'
  | 'UNSUPPORTED_MEDIA_TYPE'
  | 'RATE_LIMITED'
  | 'UNAVAILABLE'
  | 'STORAGE_FULL'
  | 'INTERNAL';

export interface ErrorDetail {
  path: string;
  message: string;
}

export class AppError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly details: ErrorDetail[] | undefined;

  constructor(code: ErrorCode, status: number, message: string, details?: ErrorDetail[]) {
    super(message);
    this.name = new.target.name;
    this.code = code;
    this.status = status;
    this.details = details;
  }
}

export class Invalid extends AppError {
  constructor(message: string, details?: ErrorDetail[]) {
    super('VALIDATION_FAILED', 400, message, details);
  }
}

export class Unauthorized extends AppError {
  constructor(message = 'Authentication required') {
    super('UNAUTHORIZED', 401, message);
  }
}

export class Forbidden extends AppError {
  constructor(message = 'You are not allowed to do that') {
    super('FORBIDDEN', 403, message);
  }
}

export class NotFound extends AppError {
  constructor(message = 'Not found') {
    super('NOT_FOUND', 404, message);
  }
}

export class Conflict extends AppError {
  constructor(message: string, details?: ErrorDetail[]) {
    super('CONFLICT', 409, message, details);
  }
}

export class PayloadTooLarge extends AppError {
  constructor(message = 'Payload too large') {
    super('PAYLOAD_TOO_LARGE', 413, message);
  }
}

export class UnsupportedMediaType extends AppError {
  constructor(message = 'Unsupported content type') {
    super('UNSUPPORTED_MEDIA_TYPE', 415, message);
  }
}

export class RateLimited extends AppError {
  readonly retryAfterSeconds: number;

  constructor(retryAfterSeconds: number, message = 'Too many requests, try again later') {
    super('RATE_LIMITED', 429, message);
    this.retryAfterSeconds = Math.max(1, Math.ceil(retryAfterSeconds));
  }
}

export class Unavailable extends AppError {
  /** When trying again makes sense: sent as Retry-After and in the hub's error frame. */
  readonly retryAfterSeconds: number;

  constructor(message = 'Service unavailable', retryAfterSeconds = 2) {
    super('UNAVAILABLE', 503, message);
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/** The disk holding the data directory or the database is full: nothing new can be stored until space is freed. */
export class StorageFull extends AppError {
  readonly retryAfterSeconds: number;

  constructor(message = 'The server is out of storage space; try again once an administrator has freed some', retryAfterSeconds = 30) {
    super('STORAGE_FULL', 507, message);
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/** Whether an error (from the file system, the driver or the database server) says the disk is full. */
export function isStorageFullError(error: unknown): boolean {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  if (code === 'ENOSPC' || code === 'EDQUOT') return true;
  // SQLite (under FerretDB) says "database or disk is full"; MongoDB names the errno.
  return typeof message === 'string' && /database or disk is full|SQLITE_FULL|No space left on device|ENOSPC|disk quota exceeded/i.test(message);
}

/** Driver errors that mean the database did not answer in time or could not be reached (by name: only repos import the driver). */
const unreachable = new Set(['MongoOperationTimeoutError', 'MongoServerSelectionError', 'MongoNetworkError', 'MongoNetworkTimeoutError', 'MongoTimeoutError', 'MongoPoolClearedError', 'MongoTopologyClosedError']);

/**
 * The typed error for a failure of what chatd stands on rather than of the request: a full disk
 * is STORAGE_FULL, a database that did not answer within its deadline is UNAVAILABLE. Undefined
 * for anything else (a bug: INTERNAL).
 */
export function infrastructureFailure(error: unknown): AppError | undefined {
  if (error instanceof AppError) return error;
  if (isStorageFullError(error)) return new StorageFull();
  let current = error as { name?: string; cause?: unknown } | undefined;
  for (let depth = 0; current && depth < 3; depth += 1) {
    if (current.name && unreachable.has(current.name)) return new Unavailable('The database did not answer in time; try again shortly');
    current = current.cause as typeof current;
  }
  return undefined;
}

/** The wire form of an error, shared by the REST envelope and the hub's error frame. */
export function describeError(error: AppError): { code: ErrorCode; message: string; details?: ErrorDetail[]; retryAfter?: number } {
  const described: { code: ErrorCode; message: string; details?: ErrorDetail[]; retryAfter?: number } = { code: error.code, message: error.message };
  if (error.details) described.details = error.details;
  if (error instanceof Unavailable || error instanceof StorageFull) described.retryAfter = error.retryAfterSeconds;
  return described;
}
