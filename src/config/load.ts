import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parse as parseDotenv } from 'dotenv';
import { configSchema, secretVariables, type RawConfig } from './schema.js';

export interface Config extends RawConfig {
  /** CORS_ORIGIN with its default applied. */
  CORS_ORIGIN: string[];
  /** CHATD_DATA_DIR made absolute. */
  CHATD_DATA_DIR: string;
  /** BACKUP_DIR made absolute, CHATD_DATA_DIR/backups when unset. */
  BACKUP_DIR: string;
  /** Where the settings came from, for `chatd doctor`. */
  envFile: string | undefined;
}

export interface ConfigProblem {
  variable: string;
  message: string;
}

export class ConfigError extends Error {
  readonly problems: ConfigProblem[];

  constructor(problems: ConfigProblem[]) {
    super(problems.map((problem) => `${problem.variable}: ${problem.message}`).join('\n'));
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

export interface LoadOptions {
  /** Directory whose `.env` is read; default the working directory. */
  cwd?: string;
  /** Explicit settings file; default `<cwd>/.env` (or CHATD_ENV_FILE). */
  envFile?: string;
  env?: NodeJS.ProcessEnv;
}

/** Reads `.env`, lets the environment win, validates once and reports every problem together. */
export function loadConfig(options: LoadOptions = {}): Config {
  const env = options.env ?? process.env;
  const cwd = options.cwd ?? process.cwd();
  const named = options.envFile ?? (env.CHATD_ENV_FILE?.trim() || undefined);
  const envFile = resolve(cwd, named ?? '.env');
  // A settings file asked for by name must exist: silently running on defaults would be worse.
  if (named !== undefined && !existsSync(envFile)) {
    throw new ConfigError([{ variable: options.envFile !== undefined ? '--env-file' : 'CHATD_ENV_FILE', message: `${envFile} does not exist` }]);
  }
  const fromFile = existsSync(envFile) ? parseDotenv(readFileSync(envFile)) : {};

  // An empty variable means "not set", as in most twelve-factor loaders: it neither counts nor
  // hides the file's value (compose passes every line of an env_file, blanks included).
  const merged: Record<string, string> = {};
  for (const source of [fromFile, env]) {
    for (const [key, value] of Object.entries(source)) {
      if (typeof value === 'string' && value.trim() !== '') merged[key] = value.trim();
    }
  }

  const parsed = configSchema.safeParse(merged);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => {
      const variable = String(issue.path[0] ?? 'configuration');
      const given = merged[variable];
      const shown = given !== undefined && issue.code !== 'custom' && !secretVariables.has(variable) && !/SECRET|URI|PASSWORD/.test(variable) ? ` (got "${given}")` : '';
      const message = issue.code === 'invalid_type' && given === undefined && issue.message.startsWith('Invalid input') ? 'is required' : issue.message;
      return { variable, message: message + shown };
    });
    problems.sort((a, b) => a.variable.localeCompare(b.variable));
    throw new ConfigError(problems);
  }

  const raw = parsed.data;
  const dataDir = resolve(cwd, raw.CHATD_DATA_DIR);
  return {
    ...raw,
    CORS_ORIGIN: raw.CORS_ORIGIN ?? [new URL(raw.PUBLIC_URL).origin],
    CHATD_DATA_DIR: dataDir,
    BACKUP_DIR: raw.BACKUP_DIR ? resolve(cwd, raw.BACKUP_DIR) : join(dataDir, 'backups'),
    envFile: existsSync(envFile) ? envFile : undefined,
  };
}
