import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { select } from '@inquirer/prompts';
import type { Command } from 'commander';
import { configSchema, settingSchema } from '../config/schema.js';
import { packageRoot, version } from '../version.js';
import { askUnlessGiven, checkedFlag, type AskMode } from './ask.js';
import { isInteractive } from './context.js';
import { CliError } from './errors.js';
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
  composeMongodb?: boolean;
  dataDir?: string;
  nodeEnv?: string;
  /** false with --no-deploy: write only .env. */
  deploy?: boolean;
  deployDir?: string;
  serviceUser?: string;
  backupCron?: string;
}

export interface InitResult {
  envFile: string;
  dataDir: string;
  /** Every file written, .env first. */
  files: string[];
  database: DatabaseChoice;
}

type DatabaseChoice = 'embedded' | 'mongodb' | 'compose';

/** 32 random bytes, base64url: the JWT secrets. */
export function generateSecret(): string {
  return randomBytes(32).toString('base64url');
}

interface PlannedFile {
  path: string;
  text: string;
  mode: number;
}

/** Writes every file, or none when one exists and --force was not given. */
function writeAll(files: PlannedFile[], force: boolean): void {
  const existing = files.filter((file) => existsSync(file.path)).map((file) => file.path);
  if (existing.length > 0 && !force) {
    throw new CliError(
      `${existing.join(', ')} already exist${existing.length === 1 ? 's' : ''}; nothing was changed`,
      'use --force to overwrite (this generates new JWT secrets in .env and logs everyone out)',
    );
  }
  for (const file of files) {
    mkdirSync(dirname(file.path), { recursive: true });
    if (force) {
      // A replaced file keeps its old mode; a fresh file renamed over it gets the intended one and is never half-written.
      const temporary = `${file.path}.${process.pid}.tmp`;
      writeFileSync(temporary, file.text, { mode: file.mode, flag: 'wx' });
      renameSync(temporary, file.path);
    } else {
      // O_EXCL: a racing init cannot be clobbered either.
      writeFileSync(file.path, file.text, { mode: file.mode, flag: 'wx' });
    }
  }
}

/** `../.env` from the deploy directory, or an absolute path when there is no short way. */
function pathFrom(from: string, to: string): string {
  const path = relative(from, to);
  return path.startsWith('../../../') ? resolve(to) : path || '.';
}

interface DeployValues {
  dir: string;
  deployDir: string;
  envFile: string;
  dataDir: string;
  port: number;
  wsPort: number;
  publicUrl: string;
  behindProxy: boolean;
  serviceUser: string;
  database: DatabaseChoice;
  generatedAt: string;
}

/**
 * The proxy snippets, docker-compose.yml for a MongoDB database (the image does not carry the
 * embedded one) and the systemd unit unless Docker Compose runs chatd.
 */
function deployFiles(values: DeployValues): PlannedFile[] {
  const at = (name: string) => resolve(values.deployDir, name);
  const site = new URL(values.publicUrl).hostname;
  const common = { GENERATED_AT: values.generatedAt, PORT: String(values.port), WS_PORT: String(values.wsPort), SITE: site };
  const files: PlannedFile[] = [];
  if (values.database !== 'embedded') {
    const root = fileURLToPath(packageRoot);
    const buildLine = existsSync(resolve(root, 'Dockerfile'))
      ? `    build: ${pathFrom(values.deployDir, root)}`
      : `    # build the image from the chatd source first: docker build -t chatd:${version} <chatd source>`;
    files.push({
      path: at('docker-compose.yml'),
      mode: 0o644,
      text: renderTemplate(values.database === 'compose' ? 'docker-compose-mongodb.yml.template' : 'docker-compose-external.yml.template', {
        ...common,
        VERSION: version,
        BUILD_LINE: buildLine,
        ENV_FILE: pathFrom(values.deployDir, values.envFile),
        COMPOSE_FILE: pathFrom(values.dir, at('docker-compose.yml')),
        // Behind a proxy on this machine, only the proxy needs to reach chatd.
        BIND: values.behindProxy ? '127.0.0.1:' : '',
      }),
    });
  }
  if (values.database !== 'compose') {
    files.push({
      path: at('chatd.service'),
      mode: 0o644,
      text: renderTemplate('chatd.service.template', {
        ...common,
        SERVICE_USER: values.serviceUser,
        WORK_DIR: values.dir,
        DATA_DIR: values.dataDir,
        ENV_FILE: values.envFile,
        UNIT_FILE: at('chatd.service'),
        NODE: process.execPath,
        CHATD_BIN: fileURLToPath(new URL('bin/chatd', packageRoot)),
      }),
    });
  }
  files.push(
    { path: at('Caddyfile'), mode: 0o644, text: renderTemplate('Caddyfile.template', { ...common, CADDY_FILE: at('Caddyfile') }) },
    { path: at('nginx.conf'), mode: 0o644, text: renderTemplate('nginx.conf.template', { ...common, NGINX_FILE: at('nginx.conf') }) },
  );
  return files;
}

/**
 * Asks for what the flags did not give (on a TTY), then writes `.env` (0600), the deployment files
 * and the data directory. Nothing is written when any of the files exists, unless forced.
 */
export async function runInit(options: InitOptions): Promise<InitResult> {
  const dir = resolve(options.dir ?? process.cwd());
  const envFile = resolve(dir, '.env');
  const deployDir = resolve(dir, options.deployDir ?? 'deploy');
  if (existsSync(envFile) && !options.force) {
    throw new CliError(`${envFile} already exists; nothing was changed`, 'use --force to overwrite it (this generates new JWT secrets and logs everyone out)');
  }
  const databaseFlags = [options.mongodbUri !== undefined && '--mongodb-uri', options.embedded && '--embedded', options.composeMongodb && '--compose-mongodb'].filter(Boolean);
  if (databaseFlags.length > 1) throw new CliError(`${databaseFlags.join(' and ')} contradict each other; pick one`);
  const serviceUser = options.serviceUser ?? 'chatd';
  if (!/^[a-z_][a-z0-9_-]{0,31}$/.test(serviceUser)) throw new CliError(`--service-user must be a system user name such as chatd (got "${serviceUser}")`);
  const backupCron = options.backupCron ?? '0 3 * * *';
  // "" is init's way to say "no scheduled backups": .env then leaves BACKUP_CRON empty.
  if (backupCron !== '') {
    try {
      checkedFlag(settingSchema('BACKUP_CRON'), backupCron, '--backup-cron');
    } catch (error) {
      throw new CliError((error as Error).message, 'or --backup-cron "" for no scheduled backups');
    }
  }

  const mode: AskMode = isInteractive(options) ? { interactive: true } : { interactive: false, why: 'nothing is asked' };
  const port = await askUnlessGiven(mode, { given: options.port, flag: '--port', message: 'REST API port', fallback: '3000', schema: settingSchema('PORT') });
  const wsPort = await askUnlessGiven(mode, { given: options.wsPort, flag: '--ws-port', message: 'WebSocket hub port', fallback: String(port + 1), schema: settingSchema('WS_PORT') });
  const publicUrl = (
    await askUnlessGiven(mode, { given: options.publicUrl, flag: '--public-url', message: 'Public URL users will open', fallback: `http://localhost:${port}`, schema: settingSchema('PUBLIC_URL') })
  ).replace(/\/$/, '');
  const corsOrigins = await askUnlessGiven(mode, {
    given: options.corsOrigin,
    flag: '--cors-origin',
    message: 'Allowed browser origins (comma-separated)',
    fallback: new URL(publicUrl).origin,
    schema: settingSchema('CORS_ORIGIN'),
  });
  const corsOrigin = (corsOrigins ?? []).join(',');

  const mongodbUriSchema = settingSchema('MONGODB_URI');
  let mongodbUri = options.mongodbUri === undefined ? undefined : checkedFlag(mongodbUriSchema, options.mongodbUri, '--mongodb-uri');
  let database: DatabaseChoice = options.composeMongodb ? 'compose' : mongodbUri !== undefined ? 'mongodb' : 'embedded';
  if (databaseFlags.length === 0 && mode.interactive) {
    database = await select<DatabaseChoice>({
      message: 'Database',
      choices: [
        { name: 'Embedded (FerretDB + SQLite in the data directory; nothing else to run)', value: 'embedded' },
        { name: 'MongoDB 7 in Docker Compose, beside chatd', value: 'compose' },
        { name: 'A MongoDB server I run', value: 'mongodb' },
      ],
    });
    if (database === 'mongodb') {
      mongodbUri = await askUnlessGiven(mode, { given: undefined, flag: '--mongodb-uri', message: 'MongoDB URI', fallback: 'mongodb://localhost:27017/chatd', schema: mongodbUriSchema });
    }
  }
  if (database === 'compose') mongodbUri = 'mongodb://mongo:27017/chatd';

  const dataDirSetting = options.dataDir ?? './data';
  const nodeEnv = checkedFlag(settingSchema('NODE_ENV'), options.nodeEnv ?? 'production', '--node-env');
  const jwtSecret = generateSecret();
  let jwtRefreshSecret = generateSecret();
  while (jwtRefreshSecret === jwtSecret) jwtRefreshSecret = generateSecret();
  // The rules that span settings (WS_PORT differs from PORT, ...) are the schema's too.
  const whole = configSchema.safeParse({ PORT: String(port), WS_PORT: String(wsPort), PUBLIC_URL: publicUrl, CORS_ORIGIN: corsOrigin, JWT_SECRET: jwtSecret, JWT_REFRESH_SECRET: jwtRefreshSecret });
  if (!whole.success) {
    const issue = whole.error.issues[0]!;
    throw new CliError(`${String(issue.path[0])} ${issue.message}; nothing was changed`);
  }
  // chatd does not terminate TLS itself: an https address means a proxy in front of it.
  const behindProxy = new URL(publicUrl).protocol === 'https:';
  const generatedAt = new Date().toISOString();

  const dataDir = resolve(dir, dataDirSetting);
  const files: PlannedFile[] = [
    {
      path: envFile,
      mode: 0o600,
      text: renderTemplate('env.template', {
        GENERATED_AT: generatedAt,
        NODE_ENV: nodeEnv,
        HOST: options.host ?? (behindProxy ? '127.0.0.1' : '0.0.0.0'),
        PORT: String(port),
        WS_PORT: String(wsPort),
        PUBLIC_URL: publicUrl,
        CORS_ORIGIN: corsOrigin,
        TRUST_PROXY: String(behindProxy),
        MONGODB_URI_LINE: mongodbUri ? `MONGODB_URI=${mongodbUri}` : 'MONGODB_URI=',
        CHATD_DATA_DIR: dataDirSetting,
        JWT_SECRET: jwtSecret,
        JWT_REFRESH_SECRET: jwtRefreshSecret,
        BACKUP_CRON: backupCron,
      }),
    },
  ];
  if (options.deploy !== false) {
    files.push(...deployFiles({ dir, deployDir, envFile, dataDir, port, wsPort, publicUrl, behindProxy, serviceUser, database, generatedAt }));
  }
  writeAll(files, Boolean(options.force));
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  return { envFile, dataDir, files: files.map((file) => file.path), database };
}

export function registerInit(program: Command): void {
  program
    .command('init')
    .description('write .env with fresh secrets, deployment files (compose, systemd, Caddy, nginx) and the data directory; asks for what is missing on a terminal')
    .option('-y, --yes', 'never prompt: take flags and defaults')
    .option('-f, --force', 'overwrite existing files (new secrets: everyone is logged out)')
    .option('--dir <path>', 'directory to write .env in', '.')
    .option('--host <address>', 'listen address (default 0.0.0.0; 127.0.0.1 behind an https PUBLIC_URL)')
    .option('--port <port>', 'REST API port (default 3000)')
    .option('--ws-port <port>', 'WebSocket hub port (default PORT + 1)')
    .option('--public-url <url>', 'address users reach chatd at (default http://localhost:PORT; https:// means behind the reverse proxy)')
    .option('--cors-origin <origins>', 'comma-separated allowed browser origins (default: the public URL\'s origin)')
    .option('--embedded', 'use the embedded database (the default)')
    .option('--compose-mongodb', 'run MongoDB 7 beside chatd in deploy/docker-compose.yml')
    .option('--mongodb-uri <uri>', 'use this MongoDB server')
    .option('--data-dir <path>', 'data directory (default ./data)')
    .option('--node-env <env>', 'production, development or test (default production)')
    .option('--backup-cron <expression>', 'when chatd serve takes backups (default "0 3 * * *"; "" for never)')
    .option('--deploy-dir <path>', 'directory for the deployment files, relative to --dir (default deploy)')
    .option('--service-user <name>', 'user the systemd unit runs chatd as (default chatd)')
    .option('--no-deploy', 'write only .env')
    .action(async (options: InitOptions) => {
      const result = await runInit(options);
      for (const file of result.files) console.log(`wrote ${file}${file === result.envFile ? ' (mode 0600)' : ''}`);
      console.log(`created ${result.dataDir}`);
      if (options.deploy !== false && result.database === 'embedded') {
        console.log('no docker-compose.yml: the image cannot run the embedded database (use --compose-mongodb or --mongodb-uri for Docker)');
      }
      const compose = result.files.find((file) => file.endsWith('docker-compose.yml'));
      console.log(result.database === 'compose' && compose ? `next: docker compose -f ${relative(process.cwd(), compose)} up -d --build` : 'next: chatd serve');
    });
}
