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
    settings: user.settings,
    role: user.role,
    oauthProvider: user.oauthProvider,
    blockedUsers: user.blockedUsers.map((id) => id.toHexString()),
    updatedAt: user.updatedAt,
  };
}

export type PublicUser = ReturnType<typeof presentPublicUser>;
export type SelfUser = ReturnType<typeof presentSelf>;
