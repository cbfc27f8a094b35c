import type { Command } from 'commander';
import { ArchiveDamaged } from '../ops/backup/archive.js';
import { backupAndRecord, BackupRefused } from '../ops/backup/backup.js';
import { CollectionsRepo } from '../ops/backup/collections-repo.js';
import { listBackups } from '../ops/backup/store.js';
import { verifyArchive } from '../ops/backup/verify.js';
import { commandLogger, configFor, withDatabase, type GlobalOptions } from './context.js';
import { CliError } from './errors.js';
import { formatAge, formatBytes, formatCount } from '../format.js';
import { progressLine } from './progress.js';
import { refuseUnknownSubcommand } from './suggest.js';

interface BackupOptions {
  out?: string;
  verify?: string;
}

async function verify(file: string): Promise<void> {
  try {
    const { manifest, documents } = await verifyArchive(file);
    console.log(`ok: ${file} is a complete chatd backup`);
    console.log(`  taken ${manifest.createdAt} by chatd ${manifest.chatdVersion} from the ${manifest.database.kind} database "${manifest.database.name}"`);
    console.log(`  holds everything stored before ${manifest.snapshotAt}, schema at migration ${manifest.lastMigration ?? '(none)'}`);
    console.log(`  ${formatCount(documents)} documents in ${manifest.collections.length} collections, ${formatCount(manifest.uploads.files)} uploads (${formatBytes(manifest.uploads.bytes)}); every checksum matches`);
  } catch (error) {
    if (error instanceof ArchiveDamaged) throw new CliError(`${file} is not a usable backup: ${error.message}`);
    throw new CliError(`cannot read ${file}: ${(error as Error).message}`);
  }
}

export function registerBackup(program: Command): void {
  const command = program
    .command('backup')
    .description('write the database and the uploads to one archive (safe while chatd serve runs)')
    .option('-o, --out <file>', 'archive to write (default BACKUP_DIR/chatd-<timestamp>.tar.gz)')
    .option('--verify <file>', 'check an archive\'s manifest and every checksum; touches nothing')
    .allowExcessArguments()
    .action(async (options: BackupOptions, cmd: Command) => {
      refuseUnknownSubcommand(cmd);
      if (options.verify !== undefined) {
        if (options.out !== undefined) throw new CliError('--verify and --out cannot be combined');
        await verify(options.verify);
        return;
      }
      const config = configFor(cmd.optsWithGlobals<GlobalOptions>());
      const logger = commandLogger(config);
      await withDatabase(config, logger, async (database) => {
        const progress = progressLine();
        let result;
        try {
          result = await backupAndRecord({
            collections: new CollectionsRepo(database.db),
            databaseKind: database.kind === 'mongodb' ? 'mongodb' : 'embedded',
            dataDir: config.CHATD_DATA_DIR,
            backupDir: config.BACKUP_DIR,
            out: options.out,
            trigger: 'manual',
            onProgress: (p) =>
              progress.update(
                p.phase === 'collections'
                  ? `backing up ${p.collection}: ${formatCount(p.documents)} of ~${formatCount(p.totalDocuments)} documents (${formatBytes(p.bytes)})`
                  : p.phase === 'uploads'
                    ? `backing up uploads: ${formatCount(p.files)} files (${formatBytes(p.bytes)} in all)`
                    : 'finishing the archive',
              ),
          });
        } catch (error) {
          if (error instanceof BackupRefused) throw new CliError(`backup refused: ${error.message}`);
          throw new CliError(`backup failed: ${(error as Error).message}`, 'nothing was written; the database was not changed');
        } finally {
          progress.done();
        }
        const documents = result.manifest.collections.reduce((sum, collection) => sum + collection.count, 0);
        console.log(`wrote ${result.file} (${formatBytes(result.size)})`);
        console.log(
          `  ${formatCount(documents)} documents in ${result.manifest.collections.length} collections, ${formatCount(result.manifest.uploads.files)} uploads; schema at migration ${result.manifest.lastMigration ?? '(none)'}`,
        );
      }, { command: 'backup' });
    });

  command
    .command('list')
    .description('list the archives in BACKUP_DIR, newest first, with size and age')
    .action(async (_options: unknown, cmd: Command) => {
      const config = configFor(cmd.optsWithGlobals<GlobalOptions>());
      const backups = await listBackups(config.BACKUP_DIR);
      if (backups.length === 0) {
        console.log(`no backups in ${config.BACKUP_DIR} (take one with \`chatd backup\`)`);
        return;
      }
      console.log(`backups in ${config.BACKUP_DIR}:`);
      const now = new Date();
      for (const backup of backups) console.log(`  ${backup.name.padEnd(46)} ${formatBytes(backup.size).padStart(10)}  ${formatAge(backup.modifiedAt, now)}`);
    });
}
