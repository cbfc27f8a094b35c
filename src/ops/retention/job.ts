import type { BackgroundJob } from '../../services.js';
import { uploadsDirectory } from '../backup/backup.js';
import { cronJob, type JobDeps } from '../cron-job.js';
import { RetentionRepo, type ExpiredMessage } from './repo.js';
import { sweepRetention } from './sweep.js';

export interface RetentionHooks {
  /** Awaited before the sweep deletes anything. */
  beforeDeleting?(): Promise<void>;
  /** Messages the sweep deleted (the messages module forgets them). */
  onMessagesDeleted?(messages: ExpiredMessage[]): void;
}

/** The message retention sweep on RETENTION_CRON (it also honours rooms' own retentionDays, so it always runs). */
export function retentionJob({ config, logger: parent, db }: JobDeps, hooks: RetentionHooks = {}): BackgroundJob {
  const logger = parent.child({ component: 'retention' });
  const repo = new RetentionRepo(db);
  return cronJob({
    name: 'retention sweep',
    schedule: config.RETENTION_CRON,
    logger,
    async run(signal) {
      const result = await sweepRetention({ repo, uploadsDir: uploadsDirectory(config.CHATD_DATA_DIR), globalDays: config.RETENTION_DAYS, logger, signal, beforeDeleting: hooks.beforeDeleting, onDeleted: hooks.onMessagesDeleted });
      if (result.messages > 0 || result.files > 0) logger.info({ ...result, retentionDays: config.RETENTION_DAYS }, `retention sweep deleted ${result.messages} message(s) and ${result.files} upload(s)`);
    },
  });
}
