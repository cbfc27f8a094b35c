import type { Db } from 'mongodb';
import cron, { type ScheduledTask } from 'node-cron';
import type { Config } from '../config/load.js';
import type { Logger } from '../logger.js';
import type { BackgroundJob } from '../core/background-job.js';

/** What the jobs of `chatd serve` are built from. */
export interface JobDeps {
  config: Config;
  logger: Logger;
  db: Db;
}

export interface CronJobOptions {
  name: string;
  /** node-cron expression (validated with the configuration). */
  schedule: string;
  logger: Logger;
  /** One run; `signal` aborts when chatd stops. Errors are logged, never thrown at the scheduler. */
  run(signal: AbortSignal): Promise<void>;
}

/** A BackgroundJob on a cron schedule: runs never overlap, and stop() aborts and awaits the current one. */
export function cronJob(options: CronJobOptions): BackgroundJob {
  const logger = options.logger;
  let task: ScheduledTask | undefined;
  let current: Promise<void> | undefined;
  let controller: AbortController | undefined;

  const tick = async () => {
    if (current) {
      logger.warn({ job: options.name }, `${options.name}: the previous run is still going; skipping this one`);
      return;
    }
    controller = new AbortController();
    const signal = controller.signal;
    current = options
      .run(signal)
      .catch((error: unknown) => {
        if (!signal.aborted) logger.error({ job: options.name, err: error }, `${options.name} failed`);
      })
      .finally(() => {
        current = undefined;
      });
    await current;
  };

  return {
    name: options.name,
    start() {
      task = cron.schedule(options.schedule, tick, {
        name: options.name,
        logger: {
          info: (message) => logger.debug({ job: options.name }, message),
          warn: (message) => logger.warn({ job: options.name }, message),
          error: (message, err) => logger.error({ job: options.name, err: err ?? message }, String(message)),
          debug: (message) => logger.debug({ job: options.name }, String(message)),
        },
      });
      logger.info({ job: options.name, schedule: options.schedule, next: task.getNextRun()?.toISOString() }, `${options.name} scheduled`);
    },
    async stop() {
      await task?.destroy();
      task = undefined;
      controller?.abort();
      await current;
    },
  };
}
