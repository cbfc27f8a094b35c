import { MongoClient, type Db } from 'mongodb';
import type { Config } from '../config/load.js';
import type { Logger } from '../logger.js';
import { DataDirInUse, DataDirOwnership, findOwner } from './data-dir-owner.js';
import { EmbeddedDatabase } from './embedded.js';

export interface Database {
  client: MongoClient;
  db: Db;
  /** Connection string without credentials, for logs and `chatd doctor`. */
  displayUri: string;
  /** `mongodb` for a configured server, `embedded` when chatd runs FerretDB itself, `embedded-shared` when another chatd process runs it. */
  kind: 'mongodb' | 'embedded' | 'embedded-shared';
  embedded: EmbeddedDatabase | undefined;
  /** This process's hold on the data directory (released by close), when it took it. */
  ownership: DataDirOwnership | undefined;
  /**
   * The same database through a second connection pool whose every operation fails after
   * `timeoutMs` without an answer (socket and pool-wait timeouts; the driver's own timeoutMS is
   * a no-op in mongodb 6.22): for requests, so a database that hangs gives UNAVAILABLE, not
   * silence. Closed with the database.
   */
  /** A pool whose every operation fails after `timeoutMs`; `observe` sees its commands (metrics). */
  withDeadline(timeoutMs: number, observe?: (client: MongoClient) => void): Promise<Db>;
  close(): Promise<void>;
}

export interface OpenOptions {
  /** Keep the embedded server alive by restarting it when it dies (for `chatd serve`). */
  supervise?: boolean;
  /** The command opening the database, told to anyone who asks who owns the data directory. */
  command?: string;
  /**
   * Own the data directory or fail (serve, restore): never share it with a running owner.
   * Without it, a command uses the database of the process owning the directory, if any.
   */
  exclusive?: boolean;
  /** Emit the driver's command events (metrics time every command). */
  monitorCommands?: boolean;
}

/** Which database the configuration asks for: a MongoDB server (MONGODB_URI), or the embedded one. */
export function configuredDatabaseKind(config: Pick<Config, 'MONGODB_URI'>): 'mongodb' | 'embedded' {
  return config.MONGODB_URI ? 'mongodb' : 'embedded';
}

/** The database named by the URI's path, `chatd` when the path is empty. */
export function databaseName(uri: string): string {
  const match = /^mongodb(?:\+srv)?:\/\/[^/]+\/([^?]*)/.exec(uri);
  const name = match?.[1] ? decodeURIComponent(match[1]) : '';
  return name || 'chatd';
}

export function withoutCredentials(uri: string): string {
  return uri.replace(/\/\/[^@/]*@/, '//***@');
}

function clientFor(uri: string, monitorCommands = false, deadlineMs?: number): MongoClient {
  const deadline = deadlineMs === undefined ? {} : { socketTimeoutMS: deadlineMs, waitQueueTimeoutMS: deadlineMs };
  return new MongoClient(uri, {
    ...deadline,
    monitorCommands,
    serverSelectionTimeoutMS: Math.min(5000, deadlineMs ?? 5000),
    // Let the driver keep retrying during a restart of the embedded server instead of failing fast.
    retryReads: true,
    retryWrites: false,
    maxPoolSize: 50,
  });
}

/** The `withDeadline` of a database at `uri`, and what closes the pools it opened. */
function deadlinePools(uri: string, name: string): { withDeadline(timeoutMs: number, observe?: (client: MongoClient) => void): Promise<Db>; close(): Promise<void> } {
  const clients: MongoClient[] = [];
  return {
    async withDeadline(timeoutMs, observe) {
      const client = clientFor(uri, observe !== undefined, timeoutMs);
      observe?.(client);
      clients.push(client);
      await client.connect();
      return client.db(name);
    },
    async close() {
      await Promise.all(clients.map((client) => client.close()));
    },
  };
}

/**
 * Connects to MONGODB_URI, or to the embedded database: the one run by the process that owns
 * this data directory (asked of its lock, so a database respawned since is still found), else a
 * new one this process starts, owning the directory until close.
 */
export async function openDatabase(config: Config, logger: Logger, options: OpenOptions = {}): Promise<Database> {
  if (config.MONGODB_URI) {
    // The server owns the uploads and keeps state in memory that nobody else may write behind
    // its back, so serve and restore hold the data directory on MongoDB too.
    const ownership = options.exclusive ? await DataDirOwnership.acquire(config.CHATD_DATA_DIR, options.command ?? 'command') : undefined;
    const client = clientFor(config.MONGODB_URI, options.monitorCommands);
    try {
      await client.connect();
    } catch (error) {
      await ownership?.release();
      throw error;
    }
    const deadlines = deadlinePools(config.MONGODB_URI, databaseName(config.MONGODB_URI));
    return {
      client,
      db: client.db(databaseName(config.MONGODB_URI)),
      displayUri: withoutCredentials(config.MONGODB_URI),
      kind: 'mongodb',
      embedded: undefined,
      ownership,
      withDeadline: deadlines.withDeadline,
      async close() {
        await deadlines.close();
        await client.close();
        await ownership?.release();
      },
    };
  }

  const dataDir = config.CHATD_DATA_DIR;
  const owner = await findOwner(dataDir);
  if (owner && options.exclusive) throw new DataDirInUse(dataDir, owner);
  if (owner) {
    if (!owner.databaseUri) throw new DataDirInUse(dataDir, owner);
    return connectEmbedded(`${owner.databaseUri}/chatd?directConnection=true`, 'embedded-shared', undefined, undefined, options.monitorCommands);
  }
  const ownership = await DataDirOwnership.acquire(dataDir, options.command ?? 'command');
  let embedded: EmbeddedDatabase | undefined;
  try {
    embedded = new EmbeddedDatabase({
      dataDir,
      launcher: config.CHATD_FERRETDB_BIN,
      logLevel: config.CHATD_FERRETDB_LOG_LEVEL,
      pprof: config.CHATD_FERRETDB_PPROF,
      logger: logger.child({ component: 'embedded-db' }),
      restart: options.supervise ?? false,
    });
    const baseUri = await embedded.start();
    ownership.update({ databaseUri: baseUri });
    return await connectEmbedded(`${baseUri}/chatd?directConnection=true`, 'embedded', embedded, ownership, options.monitorCommands);
  } catch (error) {
    await embedded?.stop().catch(() => undefined);
    await ownership.release();
    throw error;
  }
}

async function connectEmbedded(uri: string, kind: 'embedded' | 'embedded-shared', embedded: EmbeddedDatabase | undefined, ownership: DataDirOwnership | undefined, monitorCommands = false): Promise<Database> {
  const client = clientFor(uri, monitorCommands);
  await client.connect();
  const deadlines = deadlinePools(uri, 'chatd');
  return {
    client,
    db: client.db('chatd'),
    displayUri: uri,
    kind,
    embedded,
    ownership,
    withDeadline: deadlines.withDeadline,
    async close() {
      await deadlines.close();
      await client.close();
      await embedded?.stop();
      await ownership?.release();
    },
  };
}
