import { execFile, execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The repository root: the working tree the image is built from. */
export const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

/** An executable on PATH, or undefined. */
export function onPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const candidate = join(dir, name);
    if (dir && existsSync(candidate)) return candidate;
  }
  return undefined;
}

/** podman's path; throws one clear sentence when the machine has none (the tests cannot run). */
export function requirePodman(): string {
  const podman = onPath('podman');
  if (!podman) {
    throw new Error(
      'the container tests need podman: install it (Debian: `apt-get install podman podman-compose`), ' +
        'or run `npm test`, whose set-up installs it when it runs as root',
    );
  }
  return podman;
}

export interface CommandResult {
  stdout: string;
  stderr: string;
  code: number;
}

/** Runs a command to its end within `timeoutMs` and returns its output and exit code (never throws on a non-zero exit). */
export async function command(file: string, args: string[], options: { cwd?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<CommandResult> {
  try {
    const { stdout, stderr } = await run(file, args, { cwd: options.cwd, timeout: options.timeoutMs ?? 120_000, maxBuffer: 64 * 1024 * 1024, env: options.env ?? process.env });
    return { stdout, stderr, code: 0 };
  } catch (error) {
    const failure = error as { stdout?: string; stderr?: string; code?: number | string; killed?: boolean; signal?: string };
    if (failure.killed) throw new Error(`${file} ${args.join(' ')} did not finish within ${options.timeoutMs ?? 120_000} ms`);
    return { stdout: failure.stdout ?? '', stderr: failure.stderr ?? '', code: typeof failure.code === 'number' ? failure.code : 1 };
  }
}

/** Runs podman and fails with its output unless it exits 0. */
export async function podman(args: string[], timeoutMs = 120_000): Promise<string> {
  const result = await command('podman', args, { timeoutMs });
  if (result.code !== 0) throw new Error(`podman ${args.join(' ')} exited ${result.code}: ${result.stderr.trim() || result.stdout.trim()}`);
  return result.stdout.trim();
}

/**
 * Builds an image from a directory. Docker format keeps HEALTHCHECK (OCI images drop it); the
 * layers it shares with earlier builds come from podman's cache.
 */
export async function buildImage(context: string, tag: string): Promise<void> {
  await podman(['build', '--format', 'docker', '--layers', '-t', tag, context], 25 * 60_000);
}

/** The host port podman published for a container port. */
export async function publishedPort(container: string, port: number): Promise<number> {
  const mapping = await podman(['port', container, `${port}/tcp`]);
  const match = /:(\d+)\s*$/m.exec(mapping);
  if (!match) throw new Error(`podman port ${container} ${port}: no published port in "${mapping}"`);
  return Number(match[1]);
}

/** A free TCP port on the loopback interface (for the compose file's fixed port mapping). */
export async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** The newest migration's file name (`NNNN-name.ts`). */
export function newestMigrationFile(): string {
  const files = readdirSync(join(repoRoot, 'src/db/migrations')).filter((name) => /^\d{4}-.+\.ts$/.test(name)).sort();
  if (files.length === 0) throw new Error('no migrations found under src/db/migrations');
  return files.at(-1)!;
}

/**
 * The commit just before the newest migration was added: its code writes a database the current
 * code must migrate. When the newest migration is not committed yet, that is HEAD.
 */
export function commitBeforeNewestMigration(): { commit: string; migration: string } {
  const migration = newestMigrationFile().replace(/\.ts$/, '');
  const git = (args: string[]) => execFileSync('git', args, { cwd: repoRoot, encoding: 'utf8' }).trim();
  const added = git(['log', '--diff-filter=A', '--format=%H', '-n', '1', '--', `src/db/migrations/${migration}.ts`]);
  const commit = git(['rev-parse', added ? `${added}^` : 'HEAD']);
  return { commit, migration };
}
