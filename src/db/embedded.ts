import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { MongoClient } from 'mongodb';
import type { Logger } from '../logger.js';
import { packageRoot } from '../version.js';

/**
 * Written beside the SQLite files for people and tools, rewritten on every respawn. chatd itself
 * decides who runs the database from the data directory's lock (data-dir-owner.ts), never from it.
 */
export interface EmbeddedState {
  uri: string;
  pid: number;
  supervisorPid: number;
  startedAt: string;
}

/** How long a start waits for another launcher to let go of the database files. */
const LOCK_WAIT_MS = 10_000;

export class EmbeddedDatabaseError extends Error {
  override name = 'EmbeddedDatabaseError';
}

/** Re-logs one of the launcher's JSON (slog) lines through pino at its own level. */
function logLauncherLine(logger: Logger, line: string): void {
  try {
    const { level, msg, time: _time, ...rest } = JSON.parse(line) as { level?: string; msg?: string; time?: string };
    const method = level === 'ERROR' ? 'error' : level === 'WARN' ? 'warn' : level === 'INFO' ? 'info' : 'debug';
    logger[method](rest, msg ?? line);
  } catch {
    logger.warn(line);
  }
}

export function defaultLauncherPath(): string {
  return fileURLToPath(new URL('tools/ferretdb/bin/chatd-ferretdb', packageRoot));
}

export function embeddedDirectory(dataDir: string): string {
  return join(dataDir, 'db');
}

function stateFile(dataDir: string): string {
  return join(embeddedDirectory(dataDir), 'embedded.json');
}

/** Whether a process with this pid exists (EPERM: it does, owned by someone else). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Answers once the server at `uri` responds to ping, or throws after `timeoutMs`. */
export async function waitForPing(uri: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    const client = new MongoClient(uri, { serverSelectionTimeoutMS: 1000, directConnection: true });
    try {
      await client.connect();
      await client.db('admin').command({ ping: 1 });
      return;
    } catch (error) {
      lastError = error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    } finally {
      await client.close().catch(() => undefined);
    }
  }
  throw new EmbeddedDatabaseError(`embedded database did not answer ping within ${timeoutMs} ms: ${String(lastError)}`);
}

export interface EmbeddedOptions {
  dataDir: string;
  launcher?: string;
  logger: Logger;
  /** The launcher's own log level (CHATD_FERRETDB_LOG_LEVEL). */
  logLevel?: string;
  /** Where the launcher serves Go's profiler (CHATD_FERRETDB_PPROF); off when absent. */
  pprof?: string;
  /** Restart the server when it dies unexpectedly (serve does; one-off commands do not need to). */
  restart?: boolean;
}

/**
 * Supervises the FerretDB launcher: starts it on a free loopback port, announces it through the
 * state file, restarts it on the same port if it dies, and stops it on request.
 */
export class EmbeddedDatabase {
  private child: ChildProcess | undefined;
  private stopping = false;
  private restarts = 0;
  /** Unexpected exits over the supervisor's life (`restarts` counts only the current run of failures, for the back-off). */
  exitsTotal = 0;
  private address: string | undefined;
  uri: string | undefined;

  constructor(private readonly options: EmbeddedOptions) {}

  get pid(): number | undefined {
    return this.child?.pid;
  }

  async start(): Promise<string> {
    const launcher = this.options.launcher ?? defaultLauncherPath();
    if (!existsSync(launcher)) {
      throw new EmbeddedDatabaseError(
        `the embedded database is not built (${launcher} is missing): run \`npm run setup\` (needs Go), or set MONGODB_URI to use a MongoDB server`,
      );
    }
    mkdirSync(embeddedDirectory(this.options.dataDir), { recursive: true, mode: 0o700 });
    this.stopping = false;
    this.uri = await this.spawnHoldingLock(launcher);
    this.address = new URL(this.uri).host;
    await waitForPing(this.uri, 15_000);
    this.writeState();
    this.options.logger.info({ uri: this.uri, pid: this.child?.pid }, 'embedded database started');
    return this.uri;
  }

  /**
   * Starts the launcher, waiting out a launcher that still holds the files' lock: the one of a
   * chatd killed a moment ago exits once it sees its standard input close.
   */
  private async spawnHoldingLock(launcher: string): Promise<string> {
    const deadline = Date.now() + LOCK_WAIT_MS;
    for (;;) {
      try {
        return await this.spawnLauncher(launcher, this.address ?? '127.0.0.1:0');
      } catch (error) {
        if (!String((error as Error).message).includes('in use by another embedded database process') || Date.now() > deadline) throw error;
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    }
  }

  private writeState(): void {
    const state: EmbeddedState = { uri: this.uri ?? '', pid: this.child?.pid ?? 0, supervisorPid: process.pid, startedAt: new Date().toISOString() };
    writeFileSync(stateFile(this.options.dataDir), JSON.stringify(state, null, 2) + '\n', { mode: 0o600 });
  }

  private spawnLauncher(launcher: string, listen: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const args = ['-listen', listen, '-data-dir', embeddedDirectory(this.options.dataDir), '-log-level', this.options.logLevel ?? 'error', '-exit-on-stdin-eof'];
      if (this.options.pprof) args.push('-pprof', this.options.pprof);
      const child = spawn(launcher, args, {
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      this.child = child;
      let announced = false;
      const stderrTail: string[] = [];
      createInterface({ input: child.stderr! }).on('line', (line) => {
        stderrTail.push(line);
        if (stderrTail.length > 20) stderrTail.shift();
        logLauncherLine(this.options.logger, line);
      });
      createInterface({ input: child.stdout! }).on('line', (line) => {
        if (announced) return;
        try {
          const { uri } = JSON.parse(line) as { uri: string };
          announced = true;
          resolve(uri.replace(/\/$/, ''));
        } catch {
          this.options.logger.debug(line);
        }
      });
      child.once('error', (error) => {
        if (!announced) reject(new EmbeddedDatabaseError(`could not start the embedded database: ${error.message}`));
      });
      child.once('exit', (code, signal) => {
        if (!announced) {
          const reason = stderrTail.find((line) => line.startsWith('chatd-ferretdb:')) ?? stderrTail.at(-1) ?? `exit code ${code}`;
          reject(new EmbeddedDatabaseError(`the embedded database exited while starting: ${reason}`));
          return;
        }
        this.onExit(launcher, code, signal);
      });
    });
  }

  private onExit(launcher: string, code: number | null, signal: NodeJS.Signals | null): void {
    if (this.stopping) return;
    this.restarts += 1;
    this.exitsTotal += 1;
    const delay = Math.min(10_000, 250 * 2 ** Math.min(this.restarts, 6));
    this.options.logger.error({ code, signal, restartInMs: this.options.restart ? delay : undefined }, 'embedded database exited unexpectedly');
    if (!this.options.restart) return;
    setTimeout(() => {
      if (this.stopping) return;
      this.spawnLauncher(launcher, this.address ?? '127.0.0.1:0')
        .then(async (uri) => {
          await waitForPing(uri, 15_000);
          this.uri = uri;
          this.writeState();
          this.restarts = 0;
          this.options.logger.warn({ uri }, 'embedded database restarted');
        })
        .catch((error: unknown) => {
          this.options.logger.error({ err: error }, 'embedded database restart failed');
          this.onExit(launcher, null, null);
        });
    }, delay).unref();
  }

  /** Kills the server at once (the supervisor is about to exit without a graceful stop). */
  kill(): void {
    this.stopping = true;
    if (this.child && this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    rmSync(stateFile(this.options.dataDir), { force: true });
  }

  /** Stops the server (SIGTERM, then SIGKILL after 5 s) and removes the state file. */
  async stop(): Promise<void> {
    this.stopping = true;
    const child = this.child;
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(killer);
    }
    rmSync(stateFile(this.options.dataDir), { force: true });
    this.options.logger.info('embedded database stopped');
  }
}
