import { MongoClient, type Db } from 'mongodb';
import type { Config } from '../config/load.js';
import type { Logger } from '../logger.js';
import { EmbeddedDatabase, findRunningEmbedded } from './embedded.js';

export interface Database {
  client: MongoClient;
  db: Db;
  /** Connection string without credentials, for logs and `chatd doctor`. */
  displayUri: string;
  /** `mongodb` for a configured server, `embedded` when chatd runs FerretDB itself, `embedded-shared` when another chatd process runs it. */
  kind: 'mongodb' | 'embedded' | 'embedded-shared';
  embedded: EmbeddedDatabase | undefined;
  close(): Promise<void>;
}

export interface OpenOptions {
  /** Keep the embedded server alive by restarting it when it dies (for `chatd serve`). */
  supervise?: boolean;
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

function clientFor(uri: string): MongoClient {
  return new MongoClient(uri, {
    serverSelectionTimeoutMS: 5000,
    // Let the driver keep retrying during a restart of the embedded server instead of failing fast.
    retryReads: true,
    retryWrites: false,
    maxPoolSize: 50,
  });
}

/**
 * Connects to MONGODB_URI, or to the embedded database: the one another chatd process already
 * runs on this data directory, else a new one this process starts and owns.
 */
export async function openDatabase(config: Config, logger: Logger, options: OpenOptions = {}): Promise<Database> {
  if (config.MONGODB_URI) {
    const client = clientFor(config.MONGODB_URI);
    await client.connect();
    return {
      client,
      db: client.db(databaseName(config.MONGODB_URI)),
      displayUri: withoutCredentials(config.MONGODB_URI),
      kind: 'mongodb',
      embedded: undefined,
      close: () => client.close(),
    };
  }

  const shared = findRunningEmbedded(config.CHATD_DATA_DIR);
  const embedded = shared
    ? undefined
    : new EmbeddedDatabase({ dataDir: config.CHATD_DATA_DIR, launcher: config.CHATD_FERRETDB_BIN, logger: logger.child({ component: 'embedded-db' }), restart: options.supervise ?? false });
  const baseUri = shared ? shared.uri : await embedded!.start();
  const uri = `${baseUri}/chatd?directConnection=true`;
  const client = clientFor(uri);
  try {
    await client.connect();
  } catch (error) {
    await embedded?.stop();
    throw error;
  }
  return {
    client,
    db: client.db('chatd'),
    displayUri: uri,
    kind: shared ? 'embedded-shared' : 'embedded',
    embedded,
    async close() {
      await client.close();
      await embedded?.stop();
    },
  };
}
