import type { UserDocument, UserSettings } from './types.js';

/** Every setting's value for a user who never chose one. */
export const defaultSettings: Readonly<UserSettings> = { theme: 'light', notifications: true, encryption: false, notifyMessages: 'all', notifyCalls: true, notifySound: true };

/** The user's settings with a default for every one their document lacks (documents older than the field). */
export function withDefaultSettings(settings: Partial<UserSettings> | undefined): UserSettings {
  return { ...defaultSettings, ...settings };
}

/** The identifying fields of a new user; everything else starts at its default. */
export type NewUserFields = Pick<UserDocument, '_id' | 'username' | 'email' | 'passwordHash' | 'avatar'> & Partial<Pick<UserDocument, 'role' | 'oauthProvider'>>;

/** A complete new user document with every default, so no document misses a field an index or a module relies on. */
export function newUserDocument(fields: NewUserFields, now = new Date()): UserDocument {
  return {
    ...fields,
    usernameLower: fields.username.toLowerCase(),
    bio: '',
    location: '',
    website: '',
    settings: { ...defaultSettings },
    status: 'offline',
    customStatus: '',
    lastSeen: now,
    blockedUsers: [],
    isPremium: false,
    oauthProvider: fields.oauthProvider ?? null,
    role: fields.role ?? 'user',
    disabled: false,
    sessionsValidAfter: now,
    createdAt: now,
    updatedAt: now,
  };
}
