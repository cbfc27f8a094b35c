import type { Config } from '../../config/load.js';
import type { Logger } from '../../logger.js';
import type { BackgroundJob } from '../../core/background-job.js';
import { cronJob } from '../cron-job.js';

/** What the sweep asks of the files module, which does the deleting. */
export interface UnattachedUploads {
  removeUnattached(cutoff: Date, signal?: AbortSignal): Promise<number>;
}

/**
 * Removes uploads that no message carried within UPLOAD_UNATTACHED_TTL, on UPLOAD_SWEEP_CRON:
 * an upload is meant to be sent, and one that never is would otherwise stay (and count against
 * its owner's quota) forever.
 */
export function unattachedUploadsJob({ config, logger: parent, files }: { config: Pick<Config, 'UPLOAD_UNATTACHED_TTL' | 'UPLOAD_SWEEP_CRON'>; logger: Logger; files: UnattachedUploads }): BackgroundJob {
  const logger = parent.child({ component: 'upload-sweep' });
  return cronJob({
    name: 'unattached upload sweep',
    schedule: config.UPLOAD_SWEEP_CRON,
    logger,
    async run(signal) {
      const removed = await files.removeUnattached(new Date(Date.now() - config.UPLOAD_UNATTACHED_TTL * 1000), signal);
      if (removed > 0) logger.info({ removed, ttlSeconds: config.UPLOAD_UNATTACHED_TTL }, `removed ${removed} upload(s) no message carried`);
    },
  });
}
