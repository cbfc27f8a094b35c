import { Command, CommanderError } from 'commander';
import { ConfigError } from '../config/load.js';
import { version } from '../version.js';
import { registerAdmin } from './admin.js';
import { registerBackup } from './backup.js';
import { registerDoctor } from './doctor.js';
import { CliError } from './errors.js';
import { registerInit } from './init.js';
import { registerMigrate } from './migrate.js';
import { registerRestore } from './restore.js';
import { registerServe } from './serve.js';

export function buildProgram(): Command {
  const program = new Command('chatd')
    .description('chatd: a self-hosted chat server (REST API, WebSocket hub, calls) for one box')
    .version(version, '-v, --version')
    .option('--env-file <path>', 'settings file to read (default ./.env; the environment wins over it)')
    .showHelpAfterError('(run with --help for usage)')
    .enablePositionalOptions();
  registerInit(program);
  registerMigrate(program);
  registerServe(program);
  registerAdmin(program);
  registerDoctor(program);
  registerBackup(program);
  registerRestore(program);
  // Every subcommand answers --version too, and lists its own options with --help.
  for (const command of program.commands) {
    command.version(version, '-v, --version');
    for (const sub of command.commands) sub.version(version, '-v, --version');
  }
  return program;
}

/** Runs the CLI; expected failures print one line (and a hint) and set the exit code. */
export async function main(argv: string[]): Promise<void> {
  const program = buildProgram();
  program.exitOverride();
  for (const command of program.commands) command.exitOverride();
  try {
    await program.parseAsync(argv);
  } catch (error) {
    if (error instanceof CommanderError) {
      process.exitCode = error.exitCode;
      return;
    }
    if (error instanceof ConfigError) {
      for (const problem of error.problems) console.error(`chatd: configuration: ${problem.variable} ${problem.message}`);
      process.exitCode = 2;
      return;
    }
    if (error instanceof CliError) {
      console.error(`chatd: ${error.message}`);
      if (error.hint) console.error(`hint: ${error.hint}`);
      process.exitCode = error.exitCode;
      return;
    }
    if ((error as { name?: string }).name === 'ExitPromptError') {
      console.error('chatd: cancelled');
      process.exitCode = 130;
      return;
    }
    console.error(`chatd: unexpected error: ${(error as Error).stack ?? String(error)}`);
    process.exitCode = 1;
  }
}
