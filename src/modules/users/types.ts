import type { ObjectId } from 'mongodb';

export type PresenceStatus = 'online' | 'away' | 'dnd' | 'offline';
export type UserRole = 'user' | 'admin';

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
  settings: { theme: 'light' | 'dark'; notifications: boolean; encryption: boolean };
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
