import { ObjectId } from 'mongodb';
import type { Logger } from '../../logger.js';
import type { MembershipsRepo } from './membership-repo.js';
import type { RoomsRepo } from './repo.js';
import type { RoomDocument } from './types.js';

export interface RoomActivityDeps {
  rooms: RoomsRepo;
  memberships: MembershipsRepo;
  logger: Logger;
}

const ACTIVITY_INTERVAL_MS = 500;
const MAX_ACTIVITY_INTERVAL_MS = 10_000;
/** A room's stored lastMessageAt is rewritten at most this often; lists read the newer time from memory. */
const ACTIVITY_REWRITE_MS = 30_000;
/**
 * Rooms written per interval, in one update command: on the embedded database every command holds
 * message inserts back while it runs, so fewer, smaller commands keep the send path fast.
 */
const ACTIVITY_ROOMS_PER_WRITE = 16;

/**
 * What happened in rooms, as room lists need it: when each room last had a message, and how far
 * each member has read. The messages module tells it (`messageStored`, `readUpTo`); room lists
 * read it (`byActivity`, `withActivity`). lastMessageAt only orders room lists, so it is written
 * behind, off the send path.
 */
export class RoomActivity {
  private readonly rooms: RoomsRepo;
  private readonly memberships: MembershipsRepo;
  private readonly log: Logger;
  /** When each room that had a message since start-up had its last one (ms): newer than what is stored. */
  private readonly lastMessageAt = new Map<string, number>();
  /** When each room's lastMessageAt was last written (ms). */
  private readonly writtenAt = new Map<string, number>();
  /** Rooms whose stored lastMessageAt is behind, written in the background in a few commands. */
  private readonly behind = new Set<string>();
  private writing: Promise<void> | undefined;
  /** How long the last write took (ms). */
  private lastWriteMs = 0;
  private draining = false;
  private wakeWriter: (() => void) | undefined;

  constructor(deps: RoomActivityDeps) {
    this.rooms = deps.rooms;
    this.memberships = deps.memberships;
    this.log = deps.logger.child({ component: 'room-activity' });
  }

  /** A message was stored in the room: coalesced into one background write per interval, however many rooms and messages. */
  messageStored(roomId: string): void {
    this.lastMessageAt.set(roomId, Date.now());
    this.behind.add(roomId);
    this.writing ??= this.write();
  }

  /** Moves a member's read marker forward (never back). */
  readUpTo(roomId: ObjectId, userId: ObjectId, messageId: ObjectId, at: Date): Promise<boolean> {
    return this.memberships.advanceReadMarker(roomId, userId, messageId, at);
  }

  /** The room with its latest message time, which may be newer in memory than stored. */
  withActivity(room: RoomDocument): RoomDocument {
    const latest = this.lastMessageAt.get(room._id.toHexString());
    return latest !== undefined && latest > room.lastMessageAt.getTime() ? { ...room, lastMessageAt: new Date(latest) } : room;
  }

  /** Rooms most recently active first (then newest first). */
  byActivity(rooms: RoomDocument[]): RoomDocument[] {
    return rooms
      .map((room) => this.withActivity(room))
      .sort((a, b) => b.lastMessageAt.getTime() - a.lastMessageAt.getTime() || (a._id.toHexString() < b._id.toHexString() ? 1 : -1));
  }

  /** Writes everything `messageStored` collected (at shutdown). */
  async drain(): Promise<void> {
    this.draining = true;
    this.wakeWriter?.();
    await this.writing;
  }

  /**
   * Stores room activity in the background: each room at most every ACTIVITY_REWRITE_MS, with the
   * time of its latest message, at most ACTIVITY_ROOMS_PER_WRITE rooms at a time, and writes wait
   * three times as long as the last one took, so activity never takes the database's time from
   * the messages themselves. Room lists sort with the times in memory, so they do not lag.
   */
  private async write(): Promise<void> {
    try {
      while (this.behind.size > 0) {
        const interval = Math.min(MAX_ACTIVITY_INTERVAL_MS, Math.max(ACTIVITY_INTERVAL_MS, 3 * this.lastWriteMs));
        if (!this.draining) {
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, interval);
            this.wakeWriter = () => {
              clearTimeout(timer);
              resolve();
            };
          });
          this.wakeWriter = undefined;
        }
        const now = Date.now();
        const due: string[] = [];
        for (const id of this.behind) {
          if (!this.draining && due.length >= ACTIVITY_ROOMS_PER_WRITE) break;
          if (this.draining || now - (this.writtenAt.get(id) ?? 0) >= ACTIVITY_REWRITE_MS) due.push(id);
        }
        for (const id of due) {
          this.behind.delete(id);
          this.writtenAt.set(id, now);
        }
        if (due.length === 0) continue;
        const started = Date.now();
        await this.rooms
          .touchActivity(due.map((id) => new ObjectId(id)), (id) => new Date(this.lastMessageAt.get(id.toHexString()) ?? now))
          .catch((error: unknown) => this.log.warn({ err: error, rooms: due.length }, 'could not record room activity'));
        this.lastWriteMs = Date.now() - started;
      }
    } finally {
      this.writing = undefined;
    }
  }
}
