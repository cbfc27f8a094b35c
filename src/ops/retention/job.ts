import type { BackgroundJob } from '../../services.js';
import { uploadsDirectory } from '../backup/backup.js';
import { cronJob, type JobDeps } from '../cron-job.js';
import { RetentionRepo } from './repo.js';
import { sweepRetention } from './sweep.js';

/** The message retention sweep on RETENTION_CRON (it also honours rooms' own retentionDays, so it always runs). */
export function retentionJob({ config, logger: parent, db }: JobDeps): BackgroundJob {
  const logger = parent.child({ component: 'retention' });
  const repo = new RetentionRepo(db);
  return cronJob({
    name: 'retention sweep',
    schedule: config.RETENTION_CRON,
    logger,
    async run(signal) {
      const result = await sweepRetention({ repo, uploadsDir: uploadsDirectory(config.CHATD_DATA_DIR), globalDays: config.RETENTION_DAYS, logger, signal });
      if (result.messages > 0 || result.files > 0) logger.info({ ...result, retentionDays: config.RETENTION_DAYS }, `retention sweep deleted ${result.messages} message(s) and ${result.files} upload(s)`);
    },
  });
}
