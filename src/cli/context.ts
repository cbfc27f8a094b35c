import { ConfigError, loadConfig, type Config } from '../config/load.js';
import { DataDirInUse } from '../db/data-dir-owner.js';
import { openDatabase, type Database, type OpenOptions } from '../db/database.js';
import { createLogger, type Logger } from '../logger.js';
import { CliError } from './errors.js';

export interface GlobalOptions {
  envFile?: string;
}

/**
 * Loads and validates the configuration, turning problems into the exit-code-2 error. `overrides`
 * are settings given as command-line flags: they win over the environment and are validated as
 * the variables they stand for.
 */
export function configFor(options: GlobalOptions, overrides: Record<string, string | undefined> = {}): Config {
  try {
    const given = Object.fromEntries(Object.entries(overrides).filter(([, value]) => value !== undefined));
    return loadConfig({ envFile: options.envFile, env: { ...process.env, ...given } });
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    throw new CliError(`could not read the configuration: ${(error as Error).message}`);
  }
}

/** A quiet logger for one-off commands: their output is for people, the log only for trouble. */
export function commandLogger(config: Config): Logger {
  return createLogger({ level: config.LOG_LEVEL === 'info' ? 'warn' : config.LOG_LEVEL });
}

/** Runs `work` with a database connection and always closes it (and the embedded server it may have started). */
export async function withDatabase<T>(config: Config, logger: Logger, work: (database: Database) => Promise<T>, options: OpenOptions & { command: string }): Promise<T> {
  let database: Database;
  try {
    database = await openDatabase(config, logger, options);
  } catch (error) {
    if (error instanceof DataDirInUse) {
      throw new CliError(
        `${error.message}; nothing was changed`,
        error.owner?.command === 'serve' && !options.exclusive ? 'it is still starting: try again in a moment' : 'stop it first (for example `systemctl stop chatd`), then run this again',
      );
    }
    throw new CliError(`cannot reach the database: ${(error as Error).message}`, config.MONGODB_URI ? 'check MONGODB_URI' : undefined);
  }
  try {
    return await work(database);
  } finally {
    await database.close();
  }
}

export function isInteractive(options: { yes?: boolean }): boolean {
  return !options.yes && Boolean(process.stdin.isTTY) && Boolean(process.stdout.isTTY);
}
