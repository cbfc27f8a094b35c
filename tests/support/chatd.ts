import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { MongoClient, type Db } from 'mongodb';
import { inject } from 'vitest';

export const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
export const chatdBin = join(repoRoot, 'bin', 'chatd');

/** Known secrets, so tests can forge tokens (expired ones, `alg: none`, flipped bytes). */
export const TEST_JWT_SECRET = 'test-access-secret-0123456789abcdef-0123456789';
export const TEST_JWT_REFRESH_SECRET = 'test-refresh-secret-0123456789abcdef-012345678';

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

/** A fresh database name on the test server, so files never share state. */
export function testDatabaseUri(prefix = 't'): string {
  const name = `${prefix}_${randomBytes(6).toString('hex')}`;
  return `${inject('mongoUri')}/${name}`;
}

export async function connectTestDb(uri: string): Promise<{ client: MongoClient; db: Db }> {
  const client = new MongoClient(uri, { serverSelectionTimeoutMS: 5000 });
  await client.connect();
  return { client, db: client.db(new URL(uri.replace(/^mongodb(\+srv)?:/, 'http:')).pathname.slice(1) || 'chatd') };
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The program and arguments that run chatd with `args`, after a command `prefix` (e.g. nsenter ...) if any. */
function chatdCommand(args: string[], prefix: string[] = []): [string, string[]] {
  const command = [...prefix, process.execPath, chatdBin, ...args];
  return [command[0]!, command.slice(1)];
}

/** Runs a chatd CLI command to completion (`prefix`: a command that runs it, see SmallDisk). */
export function runChatd(args: string[], options: { env?: Record<string, string | undefined>; cwd?: string; input?: string; timeoutMs?: number; prefix?: string[] } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(...chatdCommand(args, options.prefix), {
      cwd: options.cwd ?? repoRoot,
      env: cleanEnv(options.env),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`chatd ${args.join(' ')} timed out\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, options.timeoutMs ?? 60_000);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(options.input ?? '');
  });
}

/** A prompt to wait for on the terminal, and what to type when it shows. */
export interface TerminalAnswer {
  when: RegExp;
  send: string;
}

const shellQuote = (word: string) => `'${word.replace(/'/g, `'\\''`)}'`;
// eslint-disable-next-line no-control-regex
const ansi = /\x1b\[[0-9;?]*[A-Za-z]/g;

/**
 * Runs a chatd CLI command on a pseudo-terminal (util-linux `script`), so it sees a TTY on stdin
 * and stdout, and types each answer once its prompt appears (matched in order, each after the
 * previous answer). `stdout` is everything the terminal showed, both streams, escapes removed.
 */
export function runChatdInTerminal(args: string[], options: { env?: Record<string, string | undefined>; cwd?: string; answers?: TerminalAnswer[]; timeoutMs?: number } = {}): Promise<RunResult> {
  const command = ['exec', process.execPath, chatdBin, ...args].map(shellQuote).join(' ');
  return new Promise((resolve, reject) => {
    const child = spawn('script', ['-qfec', command, '/dev/null'], { cwd: options.cwd ?? repoRoot, env: cleanEnv(options.env), stdio: ['pipe', 'pipe', 'pipe'] });
    const answers = [...(options.answers ?? [])];
    let screen = '';
    let answeredUpTo = 0;
    child.stdout.on('data', (chunk: Buffer) => {
      screen += chunk.toString().replace(ansi, '');
      const next = answers[0];
      if (next && next.when.test(screen.slice(answeredUpTo))) {
        answers.shift();
        answeredUpTo = screen.length;
        child.stdin.write(`${next.send}\r`);
      }
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`chatd ${args.join(' ')} on a terminal timed out\nscreen: ${screen}`));
    }, options.timeoutMs ?? 60_000);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout: screen, stderr: '' });
    });
  });
}

/** The parent's environment minus chatd settings, so a developer's shell cannot leak into a test. */
function cleanEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (/^(PORT|WS_PORT|HOST|MONGODB_URI|CHATD_|JWT_|CORS_ORIGIN|PUBLIC_URL|NODE_ENV|LOG_LEVEL|VITEST)/.test(key)) continue;
    env[key] = value;
  }
  for (const [key, value] of Object.entries(extra)) {
    if (value === undefined) delete env[key];
    else env[key] = value;
  }
  return env;
}

export interface ChatdServer {
  baseUrl: string;
  wsUrl: string;
  httpPort: number;
  wsPort: number;
  mongoUri: string | undefined;
  dataDir: string;
  process: ChildProcess;
  /** Every log line so far (JSON lines). */
  logs: string[];
  /** Sends SIGTERM and waits; resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export interface StartOptions {
  env?: Record<string, string | undefined>;
  /** Use the embedded database (no MONGODB_URI) in this server's own data directory. */
  embedded?: boolean;
  mongoUri?: string;
  dataDir?: string;
  args?: string[];
  startTimeoutMs?: number;
  /** A command that runs chatd (e.g. nsenter into the namespace of a SmallDisk). */
  prefix?: string[];
}

export const TEST_ORIGIN = 'http://localhost:5173';

/**
 * Spawns the real `chatd serve` on free ports and waits until it says it is serving. A port found
 * free can be taken by a parallel test file before chatd binds it; that start is retried on new ports.
 */
export async function startChatd(options: StartOptions = {}): Promise<ChatdServer> {
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'chatd-test-data-'));
  const mongoUri = options.embedded ? undefined : (options.mongoUri ?? testDatabaseUri());
  // A port freePort() released can be taken before chatd binds it, e.g. as the local end of one of
  // the many database connections on the machine (same ephemeral range): then try other ports.
  for (let attempt = 1; ; attempt++) {
    try {
      return await spawnChatd(options, dataDir, mongoUri);
    } catch (error) {
      if (attempt >= 3 || !(error instanceof PortTaken)) throw error;
    }
  }
}

class PortTaken extends Error {}

async function spawnChatd(options: StartOptions, dataDir: string, mongoUri: string | undefined): Promise<ChatdServer> {
  const httpPort = await freePort();
  let wsPort = await freePort();
  while (wsPort === httpPort) wsPort = await freePort();
  const env: Record<string, string | undefined> = {
    NODE_ENV: 'test',
    LOG_LEVEL: 'info',
    HOST: '127.0.0.1',
    PORT: String(httpPort),
    WS_PORT: String(wsPort),
    PUBLIC_URL: `http://localhost:${httpPort}`,
    CORS_ORIGIN: `${TEST_ORIGIN},http://localhost:${httpPort}`,
    CHATD_DATA_DIR: dataDir,
    JWT_SECRET: TEST_JWT_SECRET,
    JWT_REFRESH_SECRET: TEST_JWT_REFRESH_SECRET,
    MONGODB_URI: mongoUri,
    ...options.env,
  };
  const child = spawn(...chatdCommand(['serve', ...(options.args ?? [])], options.prefix), { cwd: dataDir, env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  const logs: string[] = [];
  createInterface({ input: child.stdout! }).on('line', (line) => logs.push(line));
  createInterface({ input: child.stderr! }).on('line', (line) => logs.push(line));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));

  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`chatd did not start within the timeout:\n${logs.join('\n')}`)), options.startTimeoutMs ?? 60_000);
    const poll = setInterval(() => {
      if (logs.some((line) => line.includes('"chatd is serving"'))) {
        clearInterval(poll);
        clearTimeout(timer);
        resolve();
      }
    }, 25);
    void exited.then((code) => {
      clearInterval(poll);
      clearTimeout(timer);
      const taken = logs.some((line) => /(PORT|hub could not listen on) .*(already in use|is the port in use)/.test(line));
      reject(new (taken ? PortTaken : Error)(`chatd exited with ${code} while starting:\n${logs.join('\n')}`));
    });
  });

  return {
    baseUrl: `http://127.0.0.1:${httpPort}`,
    wsUrl: `ws://127.0.0.1:${wsPort}/ws`,
    httpPort,
    wsPort,
    mongoUri,
    dataDir,
    process: child,
    logs,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      const code = await exited;
      if (!options.dataDir) rmSync(dataDir, { recursive: true, force: true });
      return code;
    },
  };
}
