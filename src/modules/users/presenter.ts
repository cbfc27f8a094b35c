import { withDefaultSettings } from './document.js';
import type { UserDocument } from './types.js';

/** What anyone may see of a user: never the e-mail, hashes or moderation state. */
export function presentPublicUser(user: UserDocument) {
  return {
    _id: user._id.toHexString(),
    username: user.username,
    avatar: user.avatar,
    bio: user.bio,
    location: user.location,
    website: user.website,
    status: user.status,
    customStatus: user.customStatus,
    lastSeen: user.lastSeen,
    isPremium: user.isPremium,
    createdAt: user.createdAt,
  };
}

/** What a user sees of themselves: their public profile plus e-mail, settings and role. */
export function presentSelf(user: UserDocument) {
  return {
    ...presentPublicUser(user),
    email: user.email,
    settings: withDefaultSettings(user.settings),
    role: user.role,
    oauthProvider: user.oauthProvider,
    blockedUsers: user.blockedUsers.map((id) => id.toHexString()),
    updatedAt: user.updatedAt,
  };
}

/** The user as register and login answer it (the spec's shape): the caller's own account. */
export function presentAuthUser(user: UserDocument) {
  return {
    _id: user._id.toHexString(),
    username: user.username,
    email: user.email,
    avatar: user.avatar,
    status: user.status,
    createdAt: user.createdAt,
  };
}

/** What an administrator sees in the user list: account and moderation state, never secrets. */
export function presentAdminUser(user: UserDocument) {
  return {
    _id: user._id.toHexString(),
    username: user.username,
    email: user.email,
    avatar: user.avatar,
    role: user.role,
    disabled: user.disabled,
    status: user.status,
    oauthProvider: user.oauthProvider,
    hasPassword: user.passwordHash !== null,
    lastSeen: user.lastSeen,
    createdAt: user.createdAt,
  };
}

export type PublicUser = ReturnType<typeof presentPublicUser>;
export type SelfUser = ReturnType<typeof presentSelf>;
export type AuthUser = ReturnType<typeof presentAuthUser>;
export type AdminUser = ReturnType<typeof presentAdminUser>;
