import type { Config } from '../config/load.js';
import { readBackupStatus } from '../ops/backup/store.js';
import type { ChatdMetrics } from './registry.js';

/** The parts of a running server whose state is read at scrape time. */
export interface ObservedServer {
  config: Pick<Config, 'CHATD_DATA_DIR'>;
  hub: { readonly connectionCount: number };
  services: { messages: { readonly storeBacklog: number } };
  database: { embedded?: { readonly exitsTotal: number } | undefined };
}

/**
 * The values a running server already keeps, read at scrape time. Backups come from the status
 * file `chatd doctor` reads, so a `chatd backup` run from the CLI shows up too.
 */
export function observeServer(metrics: ChatdMetrics, { config, hub, services, database }: ObservedServer): ChatdMetrics {
  metrics.gauge('chatd_hub_connections', 'Open hub connections (authenticated or not)', () => hub.connectionCount);
  metrics.gauge('chatd_message_store_queue_depth', 'Messages accepted and not yet stored (group-commit queue and the batch being written)', () => services.messages.storeBacklog);
  metrics.total('chatd_embedded_db_restarts_total', 'Times the embedded database exited unexpectedly and was restarted (0 on MongoDB)', () => database.embedded?.exitsTotal ?? 0);

  const lastBackup = async () => (await readBackupStatus(config.CHATD_DATA_DIR).catch(() => undefined))?.lastSuccess;
  metrics.gauge('chatd_backup_last_success_timestamp_seconds', 'When the last successful backup started (Unix time); 0 before the first', async () => {
    const good = await lastBackup();
    return good ? Date.parse(good.at) / 1000 : undefined;
  });
  metrics.gauge('chatd_backup_last_success_duration_seconds', 'How long the last successful backup took', async () => {
    const good = await lastBackup();
    return good ? good.durationMs / 1000 : undefined;
  });
  metrics.gauge('chatd_backup_last_success_size_bytes', 'Size of the last successful backup archive', async () => (await lastBackup())?.size);
  metrics.gauge('chatd_backup_last_attempt_failed', '1 when the last backup attempt failed, else 0', async () => {
    const status = await readBackupStatus(config.CHATD_DATA_DIR).catch(() => undefined);
    return status ? (status.lastAttempt.ok ? 0 : 1) : undefined;
  });
  return metrics;
}
