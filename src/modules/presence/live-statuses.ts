import type { PresenceStatus, UserDocument } from '../users/types.js';

interface LiveStatus {
  status: PresenceStatus;
  customStatus?: string;
}

/**
 * The presence of the users connected to this process's hub, kept in memory only. Coming online
 * is not written to the database (a restart's reconnections would otherwise be one user rewrite
 * each, queued ahead of every message); a chosen status and going offline (with lastSeen) are. What the REST API shows of a user's status comes from here:
 * one `chatd serve` owns the database, so a user it has no connection of is offline.
 */
export class LiveStatuses {
  private readonly statuses = new Map<string, LiveStatus>();

  set(userId: string, status: PresenceStatus, customStatus?: string): void {
    const previous = this.statuses.get(userId);
    this.statuses.set(userId, { status, customStatus: customStatus ?? previous?.customStatus });
  }

  delete(userId: string): void {
    this.statuses.delete(userId);
  }

  /** The user with the status others see now: the live one while connected, offline otherwise. */
  apply<T extends Pick<UserDocument, '_id' | 'status' | 'customStatus'>>(user: T): T {
    const live = this.statuses.get(user._id.toHexString());
    if (live) return { ...user, status: live.status, customStatus: live.customStatus ?? user.customStatus };
    return user.status === 'offline' ? user : { ...user, status: 'offline' };
  }
}
