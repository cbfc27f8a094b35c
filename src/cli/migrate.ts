import type { Command } from 'commander';
import { migrate, migrationStatus } from '../db/migrate.js';
import { commandLogger, configFor, withDatabase, type GlobalOptions } from './context.js';
import { refuseUnknownSubcommand } from './suggest.js';

export function registerMigrate(program: Command): void {
  const command = program
    .command('migrate')
    .description('apply pending database migrations (safe while chatd serve runs; a lock keeps runs apart)')
    .allowExcessArguments()
    .action(async (_options: unknown, cmd: Command) => {
      refuseUnknownSubcommand(cmd);
      const config = configFor(cmd.optsWithGlobals<GlobalOptions>());
      const logger = commandLogger(config);
      await withDatabase(config, logger, async ({ db }) => {
        const applied = await migrate(db, { logger });
        console.log(applied.length === 0 ? 'database is up to date; nothing to apply' : `applied ${applied.length} migration(s): ${applied.join(', ')}`);
      }, { command: 'migrate' });
    });

  command
    .command('status')
    .description('list migrations, applied and pending')
    .action(async (_options: unknown, cmd: Command) => {
      const config = configFor(cmd.optsWithGlobals<GlobalOptions>());
      const logger = commandLogger(config);
      await withDatabase(config, logger, async ({ db }) => {
        const status = await migrationStatus(db);
        for (const entry of status) {
          const state = entry.appliedAt ? `applied ${entry.appliedAt.toISOString()}` : 'pending';
          console.log(`${entry.id.padEnd(28)} ${state.padEnd(32)} ${entry.description}`);
        }
        const pending = status.filter((entry) => !entry.appliedAt).length;
        const unknown = status.filter((entry) => !entry.known).length;
        if (unknown > 0) console.log(`${unknown} applied by a newer chatd: this one is older than the database; run that version or newer`);
        console.log(pending === 0 ? `all ${status.length - unknown} migrations of this chatd applied` : `${pending} pending: run \`chatd migrate\` (chatd serve also applies them at start)`);
      }, { command: 'migrate status' });
    });
}
