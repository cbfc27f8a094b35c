import { formatDuration } from './format.js';

// Typed application errors. Every transport maps these once: REST to the error envelope with the
// status, the hub to an `error` frame, the CLI to a one-line message.

/** Every error code with its HTTP status: the one place a code and its status are paired. */
export const errorStatus = {
  VALIDATION_FAILED: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  CONFLICT: 409,
  PAYLOAD_TOO_LARGE: 413,
  // After PAYLOAD_TOO_LARGE: a bare 413 from a library is a body too large, not a quota.
  QUOTA_EXCEEDED: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  RATE_LIMITED: 429,
  INTERNAL: 500,
  UNAVAILABLE: 503,
  STORAGE_FULL: 507,
} as const;

export type ErrorCode = keyof typeof errorStatus;

/** The code of a status from the table, for errors raised by libraries that only carry a status. */
export function codeOfStatus(status: number): ErrorCode | undefined {
  return (Object.keys(errorStatus) as ErrorCode[]).find((code) => errorStatus[code] === status);
}

export interface ErrorDetail {
  path: string;
  message: string;
}

export class AppError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly details: ErrorDetail[] | undefined;

  constructor(code: ErrorCode, message: string, details?: ErrorDetail[]) {
    super(message);
    this.name = new.target.name;
    this.code = code;
    this.status = errorStatus[code];
    this.details = details;
  }
}

export class Invalid extends AppError {
  constructor(message: string, details?: ErrorDetail[]) {
    super('VALIDATION_FAILED', message, details);
  }
}

export class Unauthorized extends AppError {
  constructor(message = 'Authentication required') {
    super('UNAUTHORIZED', message);
  }
}

export class Forbidden extends AppError {
  constructor(message = 'You are not allowed to do that') {
    super('FORBIDDEN', message);
  }
}

export class NotFound extends AppError {
  constructor(message = 'Not found') {
    super('NOT_FOUND', message);
  }
}

export class Conflict extends AppError {
  constructor(message: string, details?: ErrorDetail[]) {
    super('CONFLICT', message, details);
  }
}

export class PayloadTooLarge extends AppError {
  constructor(message = 'Payload too large') {
    super('PAYLOAD_TOO_LARGE', message);
  }
}

/** A user's uploads would go over their storage quota: a smaller file may fit, a retry of the same will not. */
export class QuotaExceeded extends AppError {
  constructor(message: string) {
    super('QUOTA_EXCEEDED', message);
  }
}

export class UnsupportedMediaType extends AppError {
  constructor(message = 'Unsupported content type') {
    super('UNSUPPORTED_MEDIA_TYPE', message);
  }
}

export class RateLimited extends AppError {
  readonly retryAfterSeconds: number;
  /** The configuration variable that sets this limit, so an administrator knows what to raise. */
  readonly setting: string | undefined;

  constructor(retryAfterSeconds: number, message = 'Too many requests, try again later', setting?: string) {
    super('RATE_LIMITED', message);
    this.retryAfterSeconds = Math.max(1, Math.ceil(retryAfterSeconds));
    this.setting = setting;
  }
}

/**
 * The 429 of a limit: what was counted, the limit, the setting that sets it and when to retry,
 * in one sentence (and as retryAfter/setting fields on the wire).
 */
export function rateLimitedBy(limit: { points: number; durationSeconds: number }, description: { variable: string; counts: string }, retryAfterSeconds: number): RateLimited {
  const seconds = Math.max(1, Math.ceil(retryAfterSeconds));
  const message = `${description.counts}: at most ${limit.points} per ${formatDuration(limit.durationSeconds)} (set by ${description.variable}). Try again in ${formatDuration(seconds)}.`;
  return new RateLimited(seconds, message, description.variable);
}

export class Unavailable extends AppError {
  /** When trying again makes sense: sent as Retry-After and in the hub's error frame. */
  readonly retryAfterSeconds: number;

  constructor(message = 'Service unavailable', retryAfterSeconds = 2) {
    super('UNAVAILABLE', message);
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/** The disk holding the data directory or the database is full: nothing new can be stored until space is freed. */
export class StorageFull extends AppError {
  readonly retryAfterSeconds: number;

  constructor(message = 'The server is out of storage space; try again once an administrator has freed some', retryAfterSeconds = 30) {
    super('STORAGE_FULL', message);
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
export interface ErrorDescription {
  code: ErrorCode;
  message: string;
  details?: ErrorDetail[];
  /** RATE_LIMITED, UNAVAILABLE, STORAGE_FULL: seconds until a retry can succeed (the REST answer's Retry-After, for hub clients too). */
  retryAfter?: number;
  /** RATE_LIMITED: the configuration variable that sets the limit. */
  setting?: string;
}

export function describeError(error: AppError): ErrorDescription {
  const described: ErrorDescription = { code: error.code, message: error.message };
  if (error.details) described.details = error.details;
  if (error instanceof RateLimited) {
    described.retryAfter = error.retryAfterSeconds;
    if (error.setting) described.setting = error.setting;
  }
  if (error instanceof Unavailable || error instanceof StorageFull) described.retryAfter = error.retryAfterSeconds;
  return described;
}
