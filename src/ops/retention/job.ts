import type { Config } from '../../config/load.js';
import type { Logger } from '../../logger.js';
import type { BackgroundJob } from '../../core/background-job.js';
import { cronJob } from '../cron-job.js';
import { sweepRetention, type RetentionOptions } from './sweep.js';

export interface RetentionJobDeps extends Pick<RetentionOptions, 'rooms' | 'messages'> {
  config: Config;
  logger: Logger;
}

/** The message retention sweep on RETENTION_CRON (it also honours rooms' own retentionDays, so it always runs). */
export function retentionJob({ config, logger: parent, rooms, messages }: RetentionJobDeps): BackgroundJob {
  const logger = parent.child({ component: 'retention' });
  return cronJob({
    name: 'retention sweep',
    schedule: config.RETENTION_CRON,
    logger,
    async run(signal) {
      const result = await sweepRetention({ rooms, messages, globalDays: config.RETENTION_DAYS, signal });
      if (result.messages > 0 || result.files > 0) logger.info({ ...result, retentionDays: config.RETENTION_DAYS }, `retention sweep deleted ${result.messages} message(s) and ${result.files} upload(s)`);
    },
  });
}
