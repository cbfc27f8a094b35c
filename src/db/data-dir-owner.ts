import { statSync, mkdirSync, rmSync } from 'node:fs';
import { createConnection, createServer, type Server } from 'node:net';
import { join, resolve } from 'node:path';

/** What the process owning a data directory tells anyone who asks. */
export interface OwnerInfo {
  /** The command holding the directory: `serve`, or a one-off command such as `backup`. */
  command: string;
  pid: number;
  startedAt: string;
  httpPort?: number;
  wsPort?: number;
  /** The embedded database it runs (no path), for other commands to use instead of starting one. */
  databaseUri?: string;
}

/** Another process owns the data directory; `owner` is what it said about itself (undefined: it did not answer). */
export class DataDirInUse extends Error {
  override name = 'DataDirInUse';
  constructor(
    readonly dataDir: string,
    readonly owner: OwnerInfo | undefined,
  ) {
    super(`the data directory ${dataDir} is in use by ${describeOwner(owner)}`);
  }
}

/** "chatd serve (process 123, PORT 3000, WS_PORT 3001)" */
export function describeOwner(owner: OwnerInfo | undefined): string {
  if (!owner) return 'a chatd process that does not answer (stopped or overloaded)';
  const ports = [owner.httpPort ? `PORT ${owner.httpPort}` : '', owner.wsPort ? `WS_PORT ${owner.wsPort}` : ''].filter(Boolean).join(', ');
  return `chatd ${owner.command} (process ${owner.pid}${ports ? `, ${ports}` : ''}, since ${owner.startedAt})`;
}

/**
 * The lock's address. On Linux an abstract Unix socket, named after the directory's device and
 * inode: the kernel frees it the moment its process dies (SIGKILL, OOM, power loss of the
 * process), nothing is left on disk to go stale, and binding it is atomic. Elsewhere a socket
 * file in the directory, removed when it refuses connections.
 */
function lockAddress(dataDir: string): { path: string; abstract: boolean } {
  const stat = statSync(dataDir);
  if (process.platform === 'linux') return { path: `\0chatd-data-dir:${stat.dev}:${stat.ino}`, abstract: true };
  return { path: join(dataDir, '.owner.sock'), abstract: false };
}

const ASK_TIMEOUT_MS = 2000;

/** Connects to the owner's socket: undefined when nobody owns the directory, `null` when the owner does not answer. */
function ask(path: string): Promise<OwnerInfo | null | undefined> {
  return new Promise((resolvePromise) => {
    const socket = createConnection({ path });
    let answer = '';
    let settled = false;
    const settle = (value: OwnerInfo | null | undefined) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolvePromise(value);
    };
    // A stopped (SIGSTOP) or stuck owner still holds the socket: connected, but silent.
    const timer = setTimeout(() => settle(null), ASK_TIMEOUT_MS);
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      answer += chunk;
      const end = answer.indexOf('\n');
      if (end < 0) return;
      try {
        settle(JSON.parse(answer.slice(0, end)) as OwnerInfo);
      } catch {
        settle(null);
      }
    });
    socket.on('error', (error: NodeJS.ErrnoException) => settle(error.code === 'ECONNREFUSED' || error.code === 'ENOENT' ? undefined : null));
    socket.on('close', () => settle(null));
  });
}

/**
 * Who owns `dataDir` right now, asked of the lock itself: undefined when nobody does.
 * Throws DataDirInUse (owner unknown) when the owner holds the lock but does not answer.
 */
export async function findOwner(dataDir: string): Promise<OwnerInfo | undefined> {
  let address;
  try {
    address = lockAddress(resolve(dataDir));
  } catch {
    return undefined; // no directory, no owner
  }
  const answer = await ask(address.path);
  if (answer === null) throw new DataDirInUse(resolve(dataDir), undefined);
  return answer;
}

/**
 * The exclusive ownership of a data directory, held for the owner's whole life: only the owner
 * starts a database on it, writes its uploads, or replaces it (restore). Anyone may ask the owner
 * who it is and which database it runs.
 */
export class DataDirOwnership {
  private constructor(
    private readonly server: Server,
    private readonly path: string,
    private readonly abstract: boolean,
    private info: OwnerInfo,
  ) {}

  /** Takes the directory (creating it), or throws DataDirInUse naming the owner. */
  static async acquire(dataDir: string, command: string): Promise<DataDirOwnership> {
    const dir = resolve(dataDir);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const { path, abstract } = lockAddress(dir);
    const info: OwnerInfo = { command, pid: process.pid, startedAt: new Date().toISOString() };
    for (let attempt = 0; ; attempt += 1) {
      const server = createServer();
      const bound = await new Promise<NodeJS.ErrnoException | undefined>((done) => {
        server.once('error', (error: NodeJS.ErrnoException) => done(error));
        server.listen(path, () => done(undefined));
      });
      if (!bound) {
        const ownership = new DataDirOwnership(server, path, abstract, info);
        server.on('connection', (socket) => {
          socket.on('error', () => undefined);
          socket.end(JSON.stringify(ownership.info) + '\n');
        });
        // The lock must not keep a process alive that has nothing else to do.
        server.unref();
        return ownership;
      }
      if (bound.code !== 'EADDRINUSE') throw bound;
      const owner = await ask(path);
      if (owner === undefined && !abstract && attempt === 0) {
        // A socket file left by a process that died: nobody listens on it.
        rmSync(path, { force: true });
        continue;
      }
      if (owner === undefined && attempt < 3) continue; // the owner let go between our bind and our question
      throw new DataDirInUse(dir, owner ?? undefined);
    }
  }

  /** Adds what the owner learned after taking the directory (its ports, its database). */
  update(details: Partial<Omit<OwnerInfo, 'command' | 'pid' | 'startedAt'>>): void {
    this.info = { ...this.info, ...details };
  }

  get owner(): OwnerInfo {
    return this.info;
  }

  /** Lets the directory go (a process that dies lets it go too). */
  async release(): Promise<void> {
    await new Promise<void>((done) => this.server.close(() => done()));
    if (!this.abstract) rmSync(this.path, { force: true });
  }
}
