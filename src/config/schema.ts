import { z } from 'zod';

// One entry per environment variable. The key is the variable's name, the description is the
// comment `.env.example` carries for it (a test keeps the two in step).

const port = z.coerce
  .number({ error: 'must be a port number' })
  .int('must be a whole number')
  .min(1, 'must be between 1 and 65535')
  .max(65535, 'must be between 1 and 65535');

const positiveInt = z.coerce.number({ error: 'must be a number' }).int('must be a whole number').positive('must be greater than 0');

const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'], { error: 'must be true or false' })
  .transform((value) => value === 'true' || value === '1' || value === 'yes');

const durationPattern = /^(\d+)\s*(ms|s|m|h|d)?$/;
const durationUnits: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400 };

/** A duration such as `15m`, `7d` or `30s` (bare numbers are seconds), as whole seconds. */
const duration = z
  .string()
  .regex(durationPattern, 'must be a duration such as 30s, 15m, 12h or 7d')
  .transform((value) => {
    const [, amount, unit] = durationPattern.exec(value.trim()) as RegExpExecArray;
    return Math.max(1, Math.round(Number(amount) * (durationUnits[unit ?? 's'] ?? 1)));
  });

const httpUrl = z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' });

const secret = z
  .string({ error: 'is required (run `chatd init` to generate one)' })
  .min(32, 'must be at least 32 characters (run `chatd init` to generate one)');

const commaList = z.string().transform((value) => value.split(',').map((item) => item.trim()).filter(Boolean));

export const configSchema = z
  .object({
    NODE_ENV: z.enum(['production', 'development', 'test']).default('production')
      .describe('production, development or test. production turns on Secure cookies.'),
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info')
      .describe('Log level: fatal, error, warn, info, debug, trace or silent. Logs are JSON lines (pretty on a terminal).'),
    HOST: z.string().min(1).default('0.0.0.0')
      .describe('Address both servers listen on. 127.0.0.1 keeps chatd private to this machine (behind a reverse proxy).'),
    PORT: port.default(3000).describe('Port of the REST API (Koa).'),
    WS_PORT: port.default(3001).describe('Port of the WebSocket hub (uWebSockets.js), path /ws.'),
    PUBLIC_URL: httpUrl.default('http://localhost:3000')
      .describe('The address users reach chatd at (used for OAuth redirects, avatars and e-mail links).'),
    CORS_ORIGIN: commaList.optional()
      .describe('Comma-separated browser origins allowed to call the API and open the hub. Defaults to the origin of PUBLIC_URL.'),
    TRUST_PROXY: bool.default(false)
      .describe('Trust X-Forwarded-For / X-Forwarded-Proto from a reverse proxy. Only enable behind one.'),
    MONGODB_URI: z.string().regex(/^mongodb(\+srv)?:\/\//, 'must start with mongodb:// or mongodb+srv://').optional()
      .describe('MongoDB connection string, database name in the path. Leave empty to use the embedded database (FerretDB + SQLite under CHATD_DATA_DIR/db).'),
    CHATD_DATA_DIR: z.string().min(1).default('./data')
      .describe('Directory for the embedded database, uploads and backups.'),
    CHATD_FERRETDB_BIN: z.string().min(1).optional()
      .describe('Path of the embedded database launcher. Defaults to the one `npm run setup` builds under tools/ferretdb/bin.'),
    JWT_SECRET: secret.describe('Secret that signs access tokens: 32+ random characters. `chatd init` generates it.'),
    JWT_REFRESH_SECRET: secret.describe('Secret that signs refresh tokens, different from JWT_SECRET. `chatd init` generates it.'),
    JWT_EXPIRY: duration.prefault('15m').describe('Lifetime of an access token (15m, 1h, ...).'),
    JWT_REFRESH_EXPIRY: duration.prefault('7d').describe('Lifetime of a refresh token (7d, ...).'),
    JSON_BODY_LIMIT: positiveInt.default(1024 * 1024).describe('Largest JSON request body in bytes; larger ones get 413.'),
    MAX_UPLOAD_BYTES: positiveInt.default(25 * 1024 * 1024).describe('Largest file upload in bytes; larger ones get 413.'),
    WS_MAX_FRAME_BYTES: positiveInt.default(64 * 1024).describe('Largest hub frame in bytes; larger ones get an error frame.'),
    WS_AUTH_TIMEOUT_SECONDS: positiveInt.default(10).describe('Hub connections that have not authenticated within this many seconds are closed.'),
    WS_IDLE_TIMEOUT_SECONDS: positiveInt.default(120).describe('Hub connections silent for this long are closed (clients are pinged before).'),
    WS_EVENTS_PER_SECOND: positiveInt.default(20)
      .describe('Hub events one connection may send per second (bursts of twice as many); more get RATE_LIMITED error frames.'),
    MESSAGE_BATCH_MAX: positiveInt.default(256)
      .describe('Most messages stored by one database write (group commit); a full batch is written at once.'),
    MESSAGE_FLUSH_MS: z.coerce.number({ error: 'must be a number' }).int('must be a whole number').min(0, 'must be 0 or more').default(2)
      .describe('How long a message waits for others to share its database write, in milliseconds (0: the next tick).'),
    MESSAGE_QUEUE_MAX: positiveInt.default(20000)
      .describe('Messages waiting to be stored before new sends are refused with UNAVAILABLE (protects memory when the database stalls).'),
    SHUTDOWN_TIMEOUT_SECONDS: positiveInt.default(10).describe('On SIGTERM, how long in-flight requests may take before the process exits anyway.'),
  })
  .superRefine((config, ctx) => {
    if (config.JWT_SECRET && config.JWT_SECRET === config.JWT_REFRESH_SECRET) {
      ctx.addIssue({ code: 'custom', path: ['JWT_REFRESH_SECRET'], message: 'must differ from JWT_SECRET' });
    }
    if (config.PORT === config.WS_PORT) {
      ctx.addIssue({ code: 'custom', path: ['WS_PORT'], message: `must differ from PORT (both are ${config.PORT})` });
    }
  });

export type RawConfig = z.infer<typeof configSchema>;

/** Variables whose values must never be printed. */
export const secretVariables = new Set(['JWT_SECRET', 'JWT_REFRESH_SECRET', 'MONGODB_URI']);
