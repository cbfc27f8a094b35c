import { isIPv4, isIPv6 } from 'node:net';
import cron from 'node-cron';
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

/** A node-cron expression: five fields, or six with seconds first. */
const cronExpression = z.string().refine((value) => cron.validate(value), 'must be a cron expression such as "0 3 * * *" (five fields, or six with seconds first)');

/**
 * A listen address: an IPv4 or IPv6 address, or a host name. Dotted numbers must be a real IPv4
 * address (999.1.1.1 is a typo, not a name to look up).
 */
const listenAddress = z.string().min(1).refine((value) => {
  if (/^[\d.]+$/.test(value)) return isIPv4(value);
  if (value.includes(':')) return isIPv6(value.replace(/^\[|\]$/g, ''));
  return /^(?=.{1,253}$)[a-z\d](?:[a-z\d-]{0,61}[a-z\d])?(?:\.[a-z\d](?:[a-z\d-]{0,61}[a-z\d])?)*$/i.test(value);
}, 'must be an IP address such as 0.0.0.0, 127.0.0.1 or ::, or a host name');

const commaList = z.string().transform((value) => value.split(',').map((item) => item.trim()).filter(Boolean));

/** A comma-separated list of ICE server URIs whose scheme matches `schemes` (RFC 7064/7065). */
const iceUrls = (schemes: RegExp, example: string) =>
  commaList.pipe(z.array(z.string().regex(schemes, `each entry must look like ${example}`)));
/**
 * Browser origins as browsers send them in `Origin` (scheme://host[:port], no path, no trailing
 * slash), or `*`; anything else could never match and would be echoed to browsers as is.
 */
const origins = commaList.pipe(
  z.array(
    z.string().refine((value) => {
      if (value === '*') return true;
      try {
        const url = new URL(value);
        return (url.protocol === 'http:' || url.protocol === 'https:') && url.origin === value;
      } catch {
        return false;
      }
    }, 'each entry must be * or an http:// or https:// origin such as https://chat.example.com (scheme, host and port only: no path, no trailing slash)'),
  ),
);
const rateLimitPattern = /^(\d+)\s*\/\s*(\d+\s*(?:ms|s|m|h|d)?)$/;

/** A rate limit such as `5/15m`: that many attempts per window, as points and whole seconds. */
const rateLimit = z
  .string()
  .regex(rateLimitPattern, 'must be attempts/window such as 5/15m')
  .transform((value) => {
    const [, points, window] = rateLimitPattern.exec(value.trim()) as RegExpExecArray;
    return { points: Number(points), durationSeconds: duration.parse(window!.replace(/\s+/g, '')) };
  })
  .refine((limit) => limit.points > 0, 'must allow at least 1 attempt')
  // Limits kept in memory (the embedded database) expire by a Node timer, which cannot wait longer.
  .refine((limit) => limit.durationSeconds <= 24 * 86_400, 'must have a window of at most 24 days');


export const configSchema = z
  .object({
    NODE_ENV: z.enum(['production', 'development', 'test']).default('production')
      .describe('production, development or test. Cookies are Secure when PUBLIC_URL is https://, whatever this says.'),
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info')
      .describe('Log level: fatal, error, warn, info, debug, trace or silent. Logs are JSON lines (pretty on a terminal).'),
    HOST: listenAddress.default('0.0.0.0')
      .describe('Address both servers listen on. 127.0.0.1 keeps chatd private to this machine (behind a reverse proxy).'),
    PORT: port.default(3000).describe('Port of the REST API (Koa).'),
    WS_PORT: port.default(3001).describe('Port of the WebSocket hub (uWebSockets.js), path /ws.'),
    PUBLIC_URL: httpUrl.default('http://localhost:3000')
      .describe('The address users reach chatd at (used for OAuth redirects, avatars and e-mail links).'),
    CORS_ORIGIN: origins.optional()
      .describe('Comma-separated browser origins allowed to call the API and open the hub. Defaults to the origin of PUBLIC_URL.'),
    ALLOW_SLOW_HUB: bool.default(false)
      .describe('Serve even when uWebSockets.js cannot load its native binary (any Node.js but 20), on its JavaScript fallback, which is many times slower. Only for trying chatd out.'),
    METRICS_PORT: port.optional()
      .describe('Port of the Prometheus endpoint GET /metrics, kept off the public ports. Empty: no metrics endpoint.'),
    METRICS_HOST: listenAddress.default('127.0.0.1')
      .describe('Address the metrics endpoint listens on. 127.0.0.1 keeps it to this machine; 0.0.0.0 in a container whose port you publish only to Prometheus.'),
    TRUST_PROXY: bool.default(false)
      .describe('Trust X-Forwarded-For / X-Forwarded-Proto from a reverse proxy. Only enable behind one.'),
    MONGODB_URI: z.string().regex(/^mongodb(\+srv)?:\/\//, 'must start with mongodb:// or mongodb+srv://').optional()
      .describe('MongoDB connection string, database name in the path. Leave empty to use the embedded database (FerretDB + SQLite under CHATD_DATA_DIR/db).'),
    CHATD_DATA_DIR: z.string().min(1).default('./data')
      .describe('Directory for the embedded database, uploads and backups.'),
    CHATD_FERRETDB_BIN: z.string().min(1).optional()
      .describe('Path of the embedded database launcher. Defaults to the one `npm run setup` builds under tools/ferretdb/bin.'),
    CHATD_FERRETDB_LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error']).default('error')
      .describe('Log level of the embedded database (its lines go to chatd\'s log). debug logs every request it gets: for troubleshooting only.'),
    CHATD_FERRETDB_PPROF: z.string().regex(/^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|localhost|\[::1\]):\d{1,5}$/, 'must be a loopback host:port such as 127.0.0.1:6060').optional()
      .describe('Serve the embedded database\'s Go profiler (/debug/pprof/) on this loopback host:port, for profiling. Empty: off.'),
    JWT_SECRET: secret.describe('Secret that signs access tokens: 32+ random characters. `chatd init` generates it.'),
    JWT_REFRESH_SECRET: secret.describe('Secret that signs refresh tokens, different from JWT_SECRET. `chatd init` generates it.'),
    JWT_EXPIRY: duration.prefault('15m').describe('Lifetime of an access token (15m, 1h, ...).'),
    JWT_REFRESH_EXPIRY: duration.prefault('7d').describe('Lifetime of a refresh token (7d, ...).'),
    REFRESH_REUSE_GRACE_SECONDS: positiveInt.default(10)
      .describe('A refresh token presented again within this many seconds of its rotation (two tabs refreshing at once) gets the same new pair instead of ending the session.'),
    JSON_BODY_LIMIT: positiveInt.default(1024 * 1024).describe('Largest JSON request body in bytes; larger ones get 413.'),
    MAX_UPLOAD_BYTES: positiveInt.default(25 * 1024 * 1024).describe('Largest file upload in bytes; larger ones get 413.'),
    UPLOAD_QUOTA_BYTES: z.coerce.number({ error: 'must be a number' }).int('must be a whole number').min(0, 'must be 0 or more').default(1024 * 1024 * 1024)
      .describe("Bytes one user's uploads may take in all (1 GiB by default); an upload past it gets 413 QUOTA_EXCEEDED. Files of deleted messages free their space. 0: no quota."),
    RATE_LIMIT_UPLOAD: rateLimit.prefault('50/10m').describe('Uploads one user may make per window (attempts/window); more get 429.'),
    UPLOAD_UNATTACHED_TTL: duration.prefault('24h')
      .describe('An upload that no message carries this long after it was made is deleted (1h, 24h, 7d, ...).'),
    UPLOAD_SWEEP_CRON: cronExpression.default('*/15 * * * *').describe('When uploads no message carried within UPLOAD_UNATTACHED_TTL are deleted, as a cron expression.'),
    WS_MAX_FRAME_BYTES: positiveInt.default(64 * 1024).describe('Largest hub frame in bytes; larger ones get an error frame.'),
    WS_AUTH_TIMEOUT_SECONDS: positiveInt.default(10).describe('Hub connections that have not authenticated within this many seconds are closed.'),
    WS_IDLE_TIMEOUT_SECONDS: positiveInt.default(120).describe('Hub connections silent for this long are closed (clients are pinged before).'),
    BACKUP_CRON: cronExpression.optional()
      .describe('When `chatd serve` takes a backup, as a cron expression ("0 3 * * *" is 03:00 every day). Empty turns scheduled backups off.'),
    BACKUP_KEEP: positiveInt.default(7).describe('How many of the newest archives in BACKUP_DIR scheduled backups keep; older ones are deleted.'),
    BACKUP_DIR: z.string().min(1).optional()
      .describe('Directory for backup archives. Defaults to CHATD_DATA_DIR/backups; another disk is safer.'),
    RETENTION_DAYS: positiveInt.optional()
      .describe('Delete messages older than this many days (and uploads no remaining message uses). Empty keeps messages forever; a room\'s retentionDays overrides it.'),
    RETENTION_CRON: cronExpression.default('30 4 * * *').describe('When the message retention sweep runs, as a cron expression.'),
    WS_EVENTS_PER_SECOND: positiveInt.default(20)
      .describe('Hub events one connection may send per second (bursts of twice as many); more get RATE_LIMITED error frames.'),
    WS_USER_EVENTS_PER_SECOND: positiveInt.default(40)
      .describe('Hub events one account may send per second over all its connections (bursts of twice as many); more get RATE_LIMITED.'),
    WS_CONNECTIONS_PER_USER: positiveInt.default(10)
      .describe('Open hub connections (/ws and Socket.IO) one account may hold; one more is refused with RATE_LIMITED.'),
    WS_CONNECTIONS_PER_ADDRESS: positiveInt.default(200)
      .describe('Open hub connections from one client address (authenticated or not); one more is refused with 429.'),
    WS_REFUSED_FRAMES_LIMIT: positiveInt.default(100)
      .describe('Refused hub frames (invalid, too large, over a rate limit) per 10 seconds after which the connection is closed with 1008.'),
    MESSAGE_BATCH_MAX: positiveInt.default(256)
      .describe('Most messages stored by one database write (group commit); a full batch is written at once.'),
    MESSAGE_FLUSH_MS: z.coerce.number({ error: 'must be a number' }).int('must be a whole number').min(0, 'must be 0 or more').default(2)
      .describe('How long a message waits for others to share its database write while messages flow, in milliseconds (0: the next tick). A message after a quiet spell longer than this goes at once.'),
    MESSAGE_QUEUE_MAX: positiveInt.default(20000)
      .describe('Messages waiting to be stored before new sends are refused with UNAVAILABLE (protects memory when the database stalls).'),
    DB_TIMEOUT_MS: positiveInt.default(5000)
      .describe('Deadline in ms of each database operation made to answer a request or a hub event; past it the client gets UNAVAILABLE (503) with a retry hint and /readyz answers 503.'),
    STORAGE_RESERVE_MB: z.coerce.number().min(0).default(16)
      .describe('Free space (MiB) kept on the data directory\'s disk: below it new messages and uploads get STORAGE_FULL (507) until space is freed.'),
    SHUTDOWN_TIMEOUT_SECONDS: positiveInt.default(10).describe('On SIGTERM, how long in-flight requests may take before the process exits anyway.'),
    CALL_RING_TIMEOUT_SECONDS: positiveInt.default(30).describe('A call nobody answers within this many seconds ends as missed.'),
    CALL_RECONNECT_GRACE_SECONDS: positiveInt.default(10)
      .describe('When the connection carrying a call drops, how many seconds the user has to reconnect before the call ends for the other side.'),
    CALL_SIGNALING_LIMIT: positiveInt.default(100)
      .describe('Call events (call_user, webrtc_offer, webrtc_answer, ice_candidate, ...) one hub connection may send per 10 seconds; more get RATE_LIMITED.'),
    STUN_URLS: iceUrls(/^stuns?:\S+$/, 'stun:stun.example.org:3478').optional()
      .describe('Comma-separated STUN servers handed to browsers for calls, e.g. stun:stun.l.google.com:19302. Empty: host candidates only (same network).'),
    TURN_URLS: iceUrls(/^turns?:\S+$/, 'turn:turn.example.org:3478?transport=udp').optional()
      .describe('Comma-separated TURN servers (coturn with use-auth-secret) for calls behind strict NATs. Needs TURN_SECRET.'),
    TURN_SECRET: z.string().min(16, 'must be at least 16 characters').optional()
      .describe("coturn's static-auth-secret: chatd hands out time-limited TURN credentials derived from it (coturn REST API scheme)."),
    TURN_CREDENTIAL_TTL: duration.prefault('12h').describe('How long the TURN credentials handed to a browser stay valid (1h, 12h, 1d, ...).'),
    BCRYPT_COST: z.coerce.number({ error: 'must be a number' }).int('must be a whole number').min(10, 'must be at least 10').max(15, 'must be at most 15 (each step doubles the time of every login)').default(12)
      .describe('bcrypt work factor for passwords (10-15). 12 takes about half a second per login on a small server.'),
    RATE_LIMIT_LOGIN: rateLimit.prefault('5/15m').describe('Failed logins allowed per client address before 429 (attempts/window).'),
    RATE_LIMIT_LOGIN_ACCOUNT: rateLimit.prefault('20/15m')
      .describe('Failed logins allowed per account from addresses it has not signed in from in the last 30 days (attempts/window). Addresses the owner signed in from are exempt, so guessing from elsewhere cannot lock the owner out.'),
    RATE_LIMIT_REGISTER: rateLimit.prefault('30/1h')
      .describe('Sign-ups (registrations and first OAuth logins) allowed per client address (attempts/window). Raise it when many people join from behind one address (a school, an office).'),
    RATE_LIMIT_PASSWORD: rateLimit.prefault('5/15m')
      .describe('Password-reset requests per address and per account, failed reset tokens and failed current-password checks per user (attempts/window).'),
    RATE_LIMIT_REFRESH: rateLimit.prefault('30/15m').describe('Failed token refreshes allowed per client address (attempts/window).'),
    AUTH_CACHE_SECONDS: positiveInt.default(5)
      .describe('How soon a change another process makes to an account (chatd admin disable, enable, reset-password, set-role) applies to token checks: the server reads its change log this often. Its own changes apply at once.'),
    SESSION_RECHECK_SECONDS: positiveInt.default(10)
      .describe('How often the hub re-checks connected users for revocations made by other processes (chatd admin disable) and closes their connections.'),
    TOKEN_SWEEP_CRON: cronExpression.default('*/10 * * * *').describe('When expired tokens (refresh, revoked, password reset) are deleted, as a cron expression.'),
    SMTP_URL: z.string().regex(/^smtps?:\/\//, 'must start with smtp:// or smtps://').optional()
      .describe('SMTP server for password-reset mail, e.g. smtps://user:pass@mail.example:465. Empty: reset links are written to the log with a warning.'),
    SMTP_FROM: z.string().min(3).default('chatd <no-reply@localhost>').describe('Sender of password-reset mail.'),
    PASSWORD_RESET_URL: httpUrl.optional()
      .describe('Page of your client that finishes a password reset; the mail links to it with ?token=. Defaults to PUBLIC_URL/reset-password.'),
    OAUTH_SUCCESS_URL: httpUrl.optional()
      .describe('Where a browser lands after an OAuth login (tokens in cookies). Empty: the callback answers JSON with the tokens.'),
    GOOGLE_CLIENT_ID: z.string().min(1).optional().describe('Google OAuth client id; Google login is enabled when this and the secret are set.'),
    GOOGLE_CLIENT_SECRET: z.string().min(1).optional().describe('Google OAuth client secret.'),
    GOOGLE_AUTHORIZE_URL: httpUrl.default('https://accounts.google.com/o/oauth2/v2/auth').describe('Google authorization endpoint (change only for testing).'),
    GOOGLE_TOKEN_URL: httpUrl.default('https://oauth2.googleapis.com/token').describe('Google token endpoint (change only for testing).'),
    GOOGLE_USERINFO_URL: httpUrl.default('https://openidconnect.googleapis.com/v1/userinfo').describe('Google userinfo endpoint (change only for testing).'),
    GITHUB_CLIENT_ID: z.string().min(1).optional().describe('GitHub OAuth app client id; GitHub login is enabled when this and the secret are set.'),
    GITHUB_CLIENT_SECRET: z.string().min(1).optional().describe('GitHub OAuth app client secret.'),
    GITHUB_AUTHORIZE_URL: httpUrl.default('https://github.com/login/oauth/authorize').describe('GitHub authorization endpoint (change only for testing).'),
    GITHUB_TOKEN_URL: httpUrl.default('https://github.com/login/oauth/access_token').describe('GitHub token endpoint (change only for testing).'),
    GITHUB_API_URL: httpUrl.default('https://api.github.com').describe('GitHub API base for /user and /user/emails (change only for testing).'),
  })
  .superRefine((config, ctx) => {
    if (config.JWT_SECRET && config.JWT_SECRET === config.JWT_REFRESH_SECRET) {
      ctx.addIssue({ code: 'custom', path: ['JWT_REFRESH_SECRET'], message: 'must differ from JWT_SECRET' });
    }
    if ((config.TURN_URLS?.length ?? 0) > 0 && !config.TURN_SECRET) {
      ctx.addIssue({ code: 'custom', path: ['TURN_SECRET'], message: 'is required when TURN_URLS is set' });
    }
    if (config.TURN_SECRET && (config.TURN_URLS?.length ?? 0) === 0) {
      ctx.addIssue({ code: 'custom', path: ['TURN_URLS'], message: 'is required when TURN_SECRET is set' });
    }
    for (const provider of ['GOOGLE', 'GITHUB'] as const) {
      const id = config[`${provider}_CLIENT_ID`];
      const secret = config[`${provider}_CLIENT_SECRET`];
      if (Boolean(id) !== Boolean(secret)) {
        ctx.addIssue({ code: 'custom', path: [id ? `${provider}_CLIENT_SECRET` : `${provider}_CLIENT_ID`], message: `is required when ${id ? `${provider}_CLIENT_ID` : `${provider}_CLIENT_SECRET`} is set` });
      }
    }
    if (config.PORT === config.WS_PORT) {
      ctx.addIssue({ code: 'custom', path: ['WS_PORT'], message: `must differ from PORT (both are ${config.PORT})` });
    }
    if (config.METRICS_PORT !== undefined && (config.METRICS_PORT === config.PORT || config.METRICS_PORT === config.WS_PORT)) {
      ctx.addIssue({ code: 'custom', path: ['METRICS_PORT'], message: `must differ from PORT and WS_PORT (it is ${config.METRICS_PORT})` });
    }
  });

export type RawConfig = z.infer<typeof configSchema>;

/** The rule for one setting, for `chatd init` to check a flag or an answer exactly as start-up will. */
export function settingSchema<K extends keyof typeof configSchema.shape>(variable: K): (typeof configSchema.shape)[K] {
  return configSchema.shape[variable];
}

/** Variables whose values must never be printed. */
export const secretVariables = new Set(['JWT_SECRET', 'JWT_REFRESH_SECRET', 'MONGODB_URI', 'SMTP_URL', 'GOOGLE_CLIENT_SECRET', 'GITHUB_CLIENT_SECRET', 'TURN_SECRET']);
