import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { migrate } from '../db/migrate.js';
import { migrations } from '../db/migrations/index.js';
import { ArchiveDamaged } from '../ops/backup/archive.js';
import { CollectionsRepo } from '../ops/backup/collections-repo.js';
import { RestoreFailed, RestoreRefused, restoreBackup } from '../ops/backup/restore.js';
import { answersAsChatd } from '../ops/running-server.js';
import { commandLogger, configFor, withDatabase, type GlobalOptions } from './context.js';
import { CliError } from './errors.js';
import { formatCount } from '../format.js';
import { progressLine } from './progress.js';

interface RestoreOptions {
  force?: boolean;
}

export function registerRestore(program: Command): void {
  program
    .command('restore')
    .description('replace the database and the uploads with a backup archive (chatd serve must be stopped)')
    .argument('<file>', 'archive written by chatd backup')
    .option('-f, --force', 'replace a database that already holds data')
    .action(async (file: string, options: RestoreOptions, cmd: Command) => {
      const archive = resolve(file);
      if (!statSync(archive, { throwIfNoEntry: false })?.isFile()) throw new CliError(`${archive} does not exist or is not a file`);
      const config = configFor(cmd.optsWithGlobals<GlobalOptions>());
      const logger = commandLogger(config);

      // The data directory's owner is refused by withDatabase (exclusive); a chatd serving this
      // MongoDB from another data directory is found by its port.
      if (config.MONGODB_URI && (await answersAsChatd(config.PORT))) {
        throw new CliError(`a chatd is serving on port ${config.PORT} of this machine; nothing was changed`, 'stop chatd serve first, restore, then start it again');
      }

      await withDatabase(config, logger, async (database) => {
        const progress = progressLine();
        let result;
        try {
          result = await restoreBackup({
            file: archive,
            collections: new CollectionsRepo(database.db),
            dataDir: config.CHATD_DATA_DIR,
            force: Boolean(options.force),
            knownMigrations: migrations.map((migration) => migration.id),
            applyMigrations: () => migrate(database.db, { logger }),
            onProgress: (p) =>
              progress.update(
                p.phase === 'verifying'
                  ? 'verifying the archive'
                  : p.phase === 'restoring'
                    ? `restoring: ${formatCount(p.documents)} of ${formatCount(p.totalDocuments)} documents, ${formatCount(p.files)} of ${formatCount(p.totalFiles)} uploads`
                    : 'applying newer migrations',
              ),
          });
        } catch (error) {
          if (error instanceof ArchiveDamaged) throw new CliError(`${archive} cannot be restored: ${error.message}; nothing was changed`);
          if (error instanceof RestoreRefused) throw new CliError(error.message, error.hint);
          if (error instanceof RestoreFailed) throw new CliError(error.message);
          throw error;
        } finally {
          progress.done();
        }
        console.log(`restored ${archive}`);
        console.log(`  ${formatCount(result.documents)} documents in ${result.manifest.collections.length} collections and ${formatCount(result.files)} uploads, taken ${result.manifest.createdAt} by chatd ${result.manifest.chatdVersion}`);
        console.log(
          result.migrationsApplied.length > 0 ? `  applied newer migrations: ${result.migrationsApplied.join(', ')}` : `  schema at migration ${result.manifest.lastMigration ?? '(none)'}, already current`,
        );
      }, { command: 'restore', exclusive: true });
    });
}
