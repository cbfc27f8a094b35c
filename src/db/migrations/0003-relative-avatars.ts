import type { Db } from 'mongodb';
import type { Migration } from './types.js';

// Default avatars used to be stored as absolute URLs built from PUBLIC_URL, which broke every
// one of them when PUBLIC_URL changed. They are paths on the API's origin now; this rewrites the
// stored ones. Only a user's own generated avatar is touched (`<anything>/api/users/<own id>/avatar`),
// never a picture the user chose. Safe to run again: rewritten avatars no longer match.
const absoluteDefault = /^https?:\/\/[^/]+(?:\/.*)?\/api\/users\/([0-9a-f]{24})\/avatar$/;

export const migration: Migration = {
  id: '0003-relative-avatars',
  description: 'store default avatars as /api/users/<id>/avatar, so changing PUBLIC_URL keeps them working',
  async up(db: Db) {
    const users = db.collection('users');
    const cursor = users.find({ avatar: { $regex: '^https?://' } }, { projection: { _id: 1, avatar: 1 } });
    for await (const user of cursor) {
      const match = absoluteDefault.exec(String(user.avatar));
      if (!match || match[1] !== user._id.toHexString()) continue;
      await users.updateOne({ _id: user._id, avatar: user.avatar }, { $set: { avatar: `/api/users/${match[1]}/avatar` } });
    }
  },
};
