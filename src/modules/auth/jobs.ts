import { createTask } from 'node-cron';
import type { Logger } from '../../logger.js';
import type { RealtimePublisher } from '../../realtime/publisher.js';
import type { BackgroundJob } from '../../core/background-job.js';
import type { UsersRepo } from '../users/repo.js';
import { KNOWN_ADDRESS_MS, type KnownAddressesRepo } from './known-addresses-repo.js';
import type { RevocationCache } from './revocation-cache.js';
import { REVOKED_CLOSE_CODE } from './sessions.js';
import type { TokensRepo } from './tokens-repo.js';
import { issuedBefore } from './tokens.js';

/**
 * Deletes expired token entries, and sign-in addresses unused for KNOWN_ADDRESS_MS, on a cron
 * schedule (the embedded database has no TTL indexes).
 */
export function tokenSweepJob(tokens: TokensRepo, knownAddresses: KnownAddressesRepo, schedule: string, logger: Logger): BackgroundJob {
  const log = logger.child({ component: 'token-sweep' });
  const task = createTask(
    schedule,
    async () => {
      try {
        const now = Date.now();
        const deleted = await tokens.deleteExpired(new Date(now));
        if (deleted > 0) log.info({ deleted }, 'expired tokens deleted');
        const forgotten = await knownAddresses.deleteOlderThan(new Date(now - KNOWN_ADDRESS_MS));
        if (forgotten > 0) log.info({ forgotten }, 'sign-in addresses unused for 30 days forgotten');
      } catch (error) {
        log.error({ err: error }, 'token sweep failed');
      }
    },
    { name: 'token-sweep', noOverlap: true },
  );
  return {
    name: 'token-sweep',
    start: () => void task.start(),
    stop: async () => {
      await task.destroy();
    },
  };
}

/**
 * Follows the log of account changes other processes make. `chatd admin disable`, `enable`,
 * `reset-password` and `set-role` run in the CLI's own process and only write the database (the
 * user document, then a log entry); every few seconds this job reads the log since its last look,
 * drops those users from the token checks' cache and closes their revoked connections with 1008.
 * Because the log is followed from before the start-up reads (`since` is set when the job is made),
 * the token checks can answer from memory after reading every user's standing once
 * (`RevocationCache.preload`). This process's own changes apply at once and do not wait for it.
 */
export function sessionRecheckJob(deps: {
  users: UsersRepo;
  revocations: RevocationCache;
  realtime: RealtimePublisher;
  intervalSeconds: number;
  /** How often every account's standing is read again (the token checks' safety net). */
  refreshSeconds: number;
  logger: Logger;
}): BackgroundJob {
  const log = deps.logger.child({ component: 'session-recheck' });
  let timer: NodeJS.Timeout | undefined;
  let running = false;
  // Overlap the windows a little: another process's clock stamps the log's entries.
  const slackMs = 2000;
  let since = new Date(Date.now() - slackMs);
  // The log is kept for an hour: long enough for every running hub to have read it.
  const keepMs = 60 * 60 * 1000;
  let prunedAt = 0;
  let refreshedAt = Date.now();

  const check = async () => {
    if (running) return;
    running = true;
    const startedAt = new Date();
    try {
      for (const user of await deps.users.changedSince(since)) {
        const id = user._id.toHexString();
        deps.revocations.forgetUser(id);
        const closed = deps.realtime.disconnect(
          (socket) => socket.principal?.userId === id && (user.disabled || issuedBefore(socket.principal.issuedAt, user.sessionsValidAfter)),
          REVOKED_CLOSE_CODE,
          user.disabled ? 'account disabled' : 'session revoked',
        );
        if (closed > 0) log.info({ userId: id, closed }, 'closed connections of a revoked session');
      }
      since = new Date(startedAt.getTime() - slackMs);
      // The full re-read runs between two looks at the log, so a change it misses is in the next look.
      if (startedAt.getTime() - refreshedAt >= deps.refreshSeconds * 1000) {
        refreshedAt = startedAt.getTime();
        await deps.revocations.refresh();
      }
      if (startedAt.getTime() - prunedAt > keepMs / 6) {
        prunedAt = startedAt.getTime();
        await deps.users.pruneRevocations(new Date(prunedAt - keepMs));
      }
    } catch (error) {
      log.error({ err: error }, 'session re-check failed');
    } finally {
      running = false;
    }
  };

  return {
    name: 'session-recheck',
    start: () => {
      timer = setInterval(() => void check(), deps.intervalSeconds * 1000);
      timer.unref();
    },
    stop: () => {
      if (timer) clearInterval(timer);
    },
  };
}
