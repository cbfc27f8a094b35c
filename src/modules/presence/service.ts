import { ObjectId } from 'mongodb';
import type { Logger } from '../../logger.js';
import { EncodedJson } from '../../realtime/codec.js';
import type { RealtimePublisher } from '../../realtime/publisher.js';
import type { RoomAccess } from '../rooms/access.js';
import type { UsersRepo } from '../users/repo.js';
import type { PresenceStatus } from '../users/types.js';
import type { LiveStatuses } from './live-statuses.js';

interface Change {
  status: PresenceStatus;
  customStatus?: string;
  lastSeen?: Date;
}

const WRITE_INTERVAL_MS = 50;

/**
 * Who is online. A user is online while any of their connections is open and goes offline, with
 * lastSeen, when the last one closes; `set_status` changes what others see meanwhile. Changes go
 * to the user's other devices and to every online user who shares a room with them. Coming
 * online is kept in memory only (LiveStatuses); a chosen status and going offline are stored, in
 * batches, so a thousand connections leaving at once cost a few bulk writes.
 */
export class PresenceService {
  private readonly connections = new Map<string, number>();
  private pending = new Map<string, Change>();
  private waiters: (() => void)[] = [];
  private writing: Promise<void> | undefined;
  private reset: Promise<unknown> = Promise.resolve();
  private readonly log: Logger;

  constructor(
    private readonly users: UsersRepo,
    private readonly access: RoomAccess,
    private readonly realtime: RealtimePublisher,
    private readonly live: LiveStatuses,
    logger: Logger,
  ) {
    this.log = logger.child({ component: 'presence' });
  }

  /** At start-up nobody is connected, whatever a crash left stored; later writes wait for this one. */
  start(): void {
    this.reset = this.users.resetPresence().catch((error: unknown) => this.log.error({ err: error }, 'could not reset presence at start-up'));
  }

  /** A connection of the user authenticated; the first one brings them online. */
  connected(userId: string): void {
    const count = (this.connections.get(userId) ?? 0) + 1;
    this.connections.set(userId, count);
    if (count > 1) return;
    this.live.set(userId, 'online');
    void this.announce(userId, { status: 'online' });
  }

  /** A connection closed; the last one takes the user offline. */
  disconnected(userId: string): void {
    const count = (this.connections.get(userId) ?? 1) - 1;
    if (count > 0) {
      this.connections.set(userId, count);
      return;
    }
    this.connections.delete(userId);
    this.live.delete(userId);
    void this.change(userId, { status: 'offline', lastSeen: new Date() });
  }

  /** The user chose a status; resolves once it is stored and announced. */
  async setStatus(userId: string, status: PresenceStatus, customStatus: string | undefined) {
    const change: Change = status === 'offline' ? { status, customStatus, lastSeen: new Date() } : { status, customStatus };
    if (this.connections.has(userId)) this.live.set(userId, status, customStatus);
    const stored = this.change(userId, change);
    await stored;
    return { userId, status, ...(customStatus === undefined ? {} : { customStatus }) };
  }

  /** Stores what is pending (at shutdown). */
  async drain(): Promise<void> {
    while (this.writing) await this.writing;
  }

  private change(userId: string, change: Change): Promise<void> {
    const previous = this.pending.get(userId);
    this.pending.set(userId, previous ? { ...previous, ...change, customStatus: change.customStatus ?? previous.customStatus } : change);
    const stored = new Promise<void>((resolve) => this.waiters.push(resolve));
    this.writing ??= this.write();
    void this.announce(userId, change);
    return stored;
  }

  private async write(): Promise<void> {
    try {
      await this.reset;
      while (this.pending.size > 0) {
        await new Promise((resolve) => setTimeout(resolve, WRITE_INTERVAL_MS));
        const batch = this.pending;
        const waiters = this.waiters;
        this.pending = new Map();
        this.waiters = [];
        // Users with the same change share one statement: on FerretDB every statement scans the collection.
        const groups = new Map<string, { status: PresenceStatus; customStatus?: string; ids: ObjectId[] }>();
        for (const [id, { status, customStatus }] of batch) {
          const key = customStatus === undefined ? status : `${status}:${customStatus}`;
          let group = groups.get(key);
          if (!group) groups.set(key, (group = { status, customStatus, ids: [] }));
          group.ids.push(new ObjectId(id));
        }
        try {
          for (const group of groups.values()) await this.users.setPresenceOf(group.ids, group.status, group.customStatus);
        } catch (error) {
          // Presence is best effort: a lost write is corrected by the next change or the start-up reset.
          this.log.warn({ err: error, users: batch.size }, 'could not store presence changes');
        }
        for (const wake of waiters) wake();
      }
    } finally {
      this.writing = undefined;
    }
  }

  /** Sends the change to the user's devices and to every online user sharing a room, once each. */
  private async announce(userId: string, change: Change): Promise<void> {
    const data = new EncodedJson(JSON.stringify({ userId, status: change.status, customStatus: change.customStatus, lastSeen: change.lastSeen }));
    this.realtime.sendToUsers([userId], 'user_status_changed', data);
    try {
      const told = new Set<string>([userId]);
      const online: string[] = [];
      for (const roomId of await this.access.roomsOf(userId)) {
        const entry = await this.access.room(roomId);
        for (const member of entry.members.keys()) {
          if (told.has(member)) continue;
          told.add(member);
          if (this.realtime.isOnline(member)) online.push(member);
        }
      }
      this.realtime.sendToUsers(online, 'user_status_changed', data);
    } catch (error) {
      this.log.warn({ err: error, userId }, 'could not announce a presence change');
    }
    // The room list is kept only while the user is online.
    if (change.status === 'offline' && !this.connections.has(userId)) this.access.forgetUser(userId);
  }
}
