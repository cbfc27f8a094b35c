import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { input, select } from '@inquirer/prompts';
import type { Command } from 'commander';
import { z } from 'zod';
import { CliError } from './errors.js';
import { isInteractive } from './context.js';
import { renderTemplate } from './templates.js';

export interface InitOptions {
  yes?: boolean;
  force?: boolean;
  dir?: string;
  host?: string;
  port?: string;
  wsPort?: string;
  publicUrl?: string;
  corsOrigin?: string;
  mongodbUri?: string;
  embedded?: boolean;
  dataDir?: string;
  nodeEnv?: string;
}

const portSchema = z.coerce.number().int().min(1).max(65535);

function checkPort(value: string, flag: string): number {
  const parsed = portSchema.safeParse(value);
  if (!parsed.success) throw new CliError(`${flag} must be a port number between 1 and 65535 (got "${value}")`);
  return parsed.data;
}

function checkUrl(value: string, flag: string): string {
  try {
    const url = new URL(value);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error();
    return value.replace(/\/$/, '');
  } catch {
    throw new CliError(`${flag} must be an http:// or https:// URL (got "${value}")`);
  }
}

function checkMongoUri(value: string): string {
  if (!/^mongodb(\+srv)?:\/\/\S+$/.test(value)) throw new CliError(`--mongodb-uri must start with mongodb:// or mongodb+srv:// (got "${value}")`);
  return value;
}

/** 32 random bytes, base64url: the JWT secrets. */
export function generateSecret(): string {
  return randomBytes(32).toString('base64url');
}

/** Asks for what the flags did not give (on a TTY), then writes `.env` (0600) and the data directory. */
export async function runInit(options: InitOptions): Promise<{ envFile: string; dataDir: string }> {
  const dir = resolve(options.dir ?? process.cwd());
  const envFile = resolve(dir, '.env');
  if (existsSync(envFile) && !options.force) {
    throw new CliError(`${envFile} already exists; nothing was changed`, 'use --force to overwrite it (this generates new JWT secrets and logs everyone out)');
  }
  if (options.mongodbUri && options.embedded) throw new CliError('--mongodb-uri and --embedded contradict each other; pick one');

  const interactive = isInteractive(options);
  const ask = async (given: string | undefined, message: string, fallback: string, check: (value: string) => unknown): Promise<string> => {
    if (given !== undefined || !interactive) return given ?? fallback;
    return input({ message, default: fallback, validate: (value) => {
      try {
        check(value);
        return true;
      } catch (error) {
        return (error as Error).message;
      }
    } });
  };

  const port = checkPort(await ask(options.port, 'REST API port', '3000', (v) => checkPort(v, 'port')), '--port');
  const wsPort = checkPort(await ask(options.wsPort, 'WebSocket hub port', String(port + 1), (v) => checkPort(v, 'port')), '--ws-port');
  if (port === wsPort) throw new CliError(`--port and --ws-port must differ (both are ${port})`);
  const publicUrl = checkUrl(await ask(options.publicUrl, 'Public URL users will open', `http://localhost:${port}`, (v) => checkUrl(v, 'URL')), '--public-url');
  const corsOrigin = await ask(options.corsOrigin, 'Allowed browser origins (comma-separated)', new URL(publicUrl).origin, (v) =>
    v.split(',').forEach((origin) => origin.trim() === '*' || checkUrl(origin.trim(), 'origin')),
  );
  for (const origin of corsOrigin.split(',')) if (origin.trim() !== '*') checkUrl(origin.trim(), '--cors-origin');

  let mongodbUri = options.mongodbUri;
  if (mongodbUri === undefined && !options.embedded && interactive) {
    const choice = await select({
      message: 'Database',
      choices: [
        { name: 'Embedded (FerretDB + SQLite in the data directory; nothing else to run)', value: 'embedded' },
        { name: 'A MongoDB server I run', value: 'mongodb' },
      ],
    });
    if (choice === 'mongodb') mongodbUri = await input({ message: 'MongoDB URI', default: 'mongodb://localhost:27017/chatd', validate: (v) => /^mongodb(\+srv)?:\/\/\S+$/.test(v) || 'must start with mongodb://' });
  }
  if (mongodbUri) checkMongoUri(mongodbUri);

  const dataDirSetting = options.dataDir ?? './data';
  const nodeEnv = options.nodeEnv ?? 'production';
  if (!['production', 'development', 'test'].includes(nodeEnv)) throw new CliError(`--node-env must be production, development or test (got "${nodeEnv}")`);
  const jwtSecret = generateSecret();
  let jwtRefreshSecret = generateSecret();
  while (jwtRefreshSecret === jwtSecret) jwtRefreshSecret = generateSecret();

  const text = renderTemplate('env.template', {
    GENERATED_AT: new Date().toISOString(),
    NODE_ENV: nodeEnv,
    HOST: options.host ?? '0.0.0.0',
    PORT: String(port),
    WS_PORT: String(wsPort),
    PUBLIC_URL: publicUrl,
    CORS_ORIGIN: corsOrigin,
    MONGODB_URI_LINE: mongodbUri ? `MONGODB_URI=${mongodbUri}` : 'MONGODB_URI=',
    CHATD_DATA_DIR: dataDirSetting,
    JWT_SECRET: jwtSecret,
    JWT_REFRESH_SECRET: jwtRefreshSecret,
  });

  const dataDir = resolve(dir, dataDirSetting);
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  if (options.force) {
    // A replaced file keeps its old mode; a fresh file renamed over it gets 0600 and is never half-written.
    const temporary = `${envFile}.${process.pid}.tmp`;
    writeFileSync(temporary, text, { mode: 0o600, flag: 'wx' });
    renameSync(temporary, envFile);
  } else {
    // O_EXCL: a racing init cannot be clobbered either.
    writeFileSync(envFile, text, { mode: 0o600, flag: 'wx' });
  }
  return { envFile, dataDir };
}

export function registerInit(program: Command): void {
  program
    .command('init')
    .description('write .env with fresh secrets and create the data directory (asks for what is missing on a terminal)')
    .option('-y, --yes', 'never prompt: take flags and defaults')
    .option('-f, --force', 'overwrite an existing .env (new secrets: everyone is logged out)')
    .option('--dir <path>', 'directory to write .env in', '.')
    .option('--host <address>', 'listen address (default 0.0.0.0)')
    .option('--port <port>', 'REST API port (default 3000)')
    .option('--ws-port <port>', 'WebSocket hub port (default PORT + 1)')
    .option('--public-url <url>', 'address users reach chatd at (default http://localhost:PORT)')
    .option('--cors-origin <origins>', 'comma-separated allowed browser origins (default: the public URL\'s origin)')
    .option('--mongodb-uri <uri>', 'use this MongoDB server instead of the embedded database')
    .option('--embedded', 'use the embedded database (the default)')
    .option('--data-dir <path>', 'data directory (default ./data)')
    .option('--node-env <env>', 'production, development or test (default production)')
    .action(async (options: InitOptions) => {
      const { envFile, dataDir } = await runInit(options);
      console.log(`wrote ${envFile} (mode 0600) and created ${dataDir}`);
      console.log('next: chatd serve');
    });
}
