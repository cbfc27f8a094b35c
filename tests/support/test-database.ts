import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export interface TestDatabase {
  /** Server address without a database name; each test file appends its own. */
  uri: string;
  kind: 'env' | 'testcontainers' | 'embedded';
  stop(): Promise<void>;
}

export const launcherPath = fileURLToPath(new URL('../../tools/ferretdb/bin/chatd-ferretdb', import.meta.url));

async function dockerAnswers(): Promise<boolean> {
  try {
    const { getContainerRuntimeClient } = await import('testcontainers');
    await Promise.race([getContainerRuntimeClient(), new Promise((_, reject) => setTimeout(() => reject(new Error('timeout')), 5000))]);
    return true;
  } catch {
    return false;
  }
}

/** Starts the embedded FerretDB launcher directly on a temporary directory. */
export async function startEmbeddedFerret(dataDir?: string): Promise<TestDatabase & { process: ChildProcess; dataDir: string }> {
  if (!existsSync(launcherPath)) throw new Error(`${launcherPath} is missing: run \`npm run setup\` first`);
  const dir = dataDir ?? mkdtempSync(join(tmpdir(), 'chatd-test-ferret-'));
  const child = spawn(launcherPath, ['-listen', '127.0.0.1:0', '-data-dir', dir, '-exit-on-stdin-eof'], { stdio: ['pipe', 'pipe', 'inherit'] });
  const uri = await new Promise<string>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`FerretDB launcher exited with ${code}`)));
    createInterface({ input: child.stdout! }).once('line', (line) => resolve((JSON.parse(line) as { uri: string }).uri.replace(/\/$/, '')));
  });
  return {
    uri,
    kind: 'embedded',
    process: child,
    dataDir: dir,
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        await exited;
      }
      if (!dataDir) rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The order README.md documents: CHATD_TEST_MONGODB_URI, then a mongo:7 container if Docker answers, then the embedded FerretDB. */
export async function startTestDatabase(): Promise<TestDatabase> {
  const fromEnv = process.env.CHATD_TEST_MONGODB_URI;
  if (fromEnv) return { uri: fromEnv.replace(/\/[^/?]*(\?.*)?$/, ''), kind: 'env', stop: async () => undefined };
  if (await dockerAnswers()) {
    const { GenericContainer, Wait } = await import('testcontainers');
    const container = await new GenericContainer('mongo:7').withExposedPorts(27017).withWaitStrategy(Wait.forLogMessage(/Waiting for connections/)).start();
    return {
      uri: `mongodb://${container.getHost()}:${container.getMappedPort(27017)}`,
      kind: 'testcontainers',
      stop: async () => {
        await container.stop();
      },
    };
  }
  return startEmbeddedFerret();
}
