import type { ObjectId } from 'mongodb';

const BATCH = 500;
const DAY_MS = 86_400_000;

/** What retention asks of the modules that own the data: the rooms module's overrides, the messages module's deletes. */
export interface RetentionTargets {
  /** Rooms that set their own retentionDays. */
  retentionOverrides(): Promise<{ roomId: ObjectId; retentionDays: number }[]>;
  /** Deletes one batch of messages older than `cutoff` and the uploads only they carried. */
  expire(roomId: ObjectId | null, cutoff: Date, batch: number, except?: ObjectId[]): Promise<{ messages: number; files: number; more: boolean }>;
}

export interface RetentionOptions {
  rooms: Pick<RetentionTargets, 'retentionOverrides'>;
  messages: Pick<RetentionTargets, 'expire'>;
  /** RETENTION_DAYS; undefined keeps messages of rooms without their own setting forever. */
  globalDays: number | undefined;
  now?: Date;
  signal?: AbortSignal;
}

export interface RetentionResult {
  messages: number;
  files: number;
}

/**
 * The retention policy: messages older than their room's retentionDays (else RETENTION_DAYS) go,
 * in batches, with the uploads that only they carried. The messages module does the deleting, so
 * its view of each room stays right; only files of expired messages are candidates, so a file
 * uploaded but not yet sent, or still carried by another message, is never touched.
 */
export async function sweepRetention(options: RetentionOptions): Promise<RetentionResult> {
  const { messages, signal } = options;
  const now = (options.now ?? new Date()).getTime();
  const result: RetentionResult = { messages: 0, files: 0 };
  const drain = async (roomId: ObjectId | null, days: number, except: ObjectId[] = []) => {
    const cutoff = new Date(now - days * DAY_MS);
    for (let more = true; more; ) {
      signal?.throwIfAborted();
      const batch = await messages.expire(roomId, cutoff, BATCH, except);
      result.messages += batch.messages;
      result.files += batch.files;
      more = batch.more;
    }
  };

  const own = await options.rooms.retentionOverrides();
  for (const room of own) if (room.retentionDays > 0) await drain(room.roomId, room.retentionDays);
  if (options.globalDays !== undefined) await drain(null, options.globalDays, own.map((room) => room.roomId));
  return result;
}
