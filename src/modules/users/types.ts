import type { ObjectId } from 'mongodb';

export type PresenceStatus = 'online' | 'away' | 'dnd' | 'offline';
export type UserRole = 'user' | 'admin';

/** Which new messages notify the user: every one, only those in direct rooms, or none. */
export type MessageNotifications = 'all' | 'direct' | 'none';

/**
 * The user's own preferences. `theme`, `notifications` (the master switch) and `encryption` are the
 * spec's; the `notify*` fields say what notifies when notifications are on, and may be missing from
 * documents written before they existed (withDefaultSettings fills them in).
 */
export interface UserSettings {
  theme: 'light' | 'dark';
  notifications: boolean;
  encryption: boolean;
  notifyMessages: MessageNotifications;
  notifyCalls: boolean;
  notifySound: boolean;
}

/** A user document as stored (docs/data-model.md). */
export interface UserDocument {
  _id: ObjectId;
  username: string;
  usernameLower: string;
  email: string;
  passwordHash: string | null;
  avatar: string;
  bio: string;
  location: string;
  website: string;
  settings: UserSettings;
  status: PresenceStatus;
  customStatus: string;
  lastSeen: Date;
  blockedUsers: ObjectId[];
  isPremium: boolean;
  oauthProvider: 'google' | 'github' | null;
  role: UserRole;
  disabled: boolean;
  /** Tokens issued before this instant are no longer accepted (password change, reset, disable). */
  sessionsValidAfter: Date;
  createdAt: Date;
  updatedAt: Date;
}
