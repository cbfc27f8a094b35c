import type { BackgroundJob } from '../../core/background-job.js';
import { cronJob, type JobDeps } from '../cron-job.js';
import { backupAndRecord } from './backup.js';
import { CollectionsRepo } from './collections-repo.js';
import { pruneBackups } from './store.js';

/** BACKUP_CRON's backups inside `chatd serve`, then pruning to BACKUP_KEEP; undefined when it is off. */
export function scheduledBackupJob({ config, logger: parent, db }: JobDeps): BackgroundJob | undefined {
  if (!config.BACKUP_CRON) return undefined;
  const logger = parent.child({ component: 'backup' });
  const collections = new CollectionsRepo(db);
  return cronJob({
    name: 'backup',
    schedule: config.BACKUP_CRON,
    logger,
    async run(signal) {
      try {
        const result = await backupAndRecord({
          collections,
          databaseKind: config.MONGODB_URI ? 'mongodb' : 'embedded',
          dataDir: config.CHATD_DATA_DIR,
          backupDir: config.BACKUP_DIR,
          trigger: 'scheduled',
          signal,
        });
        const documents = result.manifest.collections.reduce((sum, collection) => sum + collection.count, 0);
        logger.info({ file: result.file, bytes: result.size, documents, uploads: result.manifest.uploads.files }, 'scheduled backup written');
      } catch (error) {
        if (signal.aborted) {
          logger.warn('scheduled backup interrupted: chatd is stopping');
          return;
        }
        // Loud on purpose: a backup that silently stops working is found out on the day it is needed.
        logger.error({ err: error, backupDir: config.BACKUP_DIR }, `SCHEDULED BACKUP FAILED: ${(error as Error).message} (\`chatd doctor\` reports it until a backup succeeds)`);
        return;
      }
      const removed = await pruneBackups(config.BACKUP_DIR, config.BACKUP_KEEP);
      if (removed.length > 0) logger.info({ removed, keep: config.BACKUP_KEEP }, `pruned ${removed.length} old backup(s)`);
    },
  });
}
