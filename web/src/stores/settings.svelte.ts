import { api, replacingSession, setTokens, upload } from '../lib/api';
import type { User, UserSettings } from '../lib/types';
import { chat } from './chat.svelte';
import { session } from './session.svelte';

/** Avatars are scaled to this many pixels square before upload: small to store, sharp enough to show. */
const AVATAR_PIXELS = 256;

export interface ProfileFields {
  bio: string;
  location: string;
  website: string;
}

/** Draws the picture centred and cropped into a square and encodes it as PNG. */
async function squarePicture(file: File): Promise<Blob> {
  const bitmap = await createImageBitmap(file);
  const side = Math.min(bitmap.width, bitmap.height);
  const canvas = document.createElement('canvas');
  canvas.width = canvas.height = Math.min(AVATAR_PIXELS, side);
  canvas.getContext('2d')!.drawImage(bitmap, (bitmap.width - side) / 2, (bitmap.height - side) / 2, side, side, 0, 0, canvas.width, canvas.height);
  bitmap.close();
  return new Promise((resolve, reject) => canvas.toBlob((blob) => (blob ? resolve(blob) : reject(new Error('The picture could not be encoded'))), 'image/png'));
}

/** The signed-in user's own profile and settings: what the settings page changes. */
class Settings {
  /** Users the signed-in user blocked, with their public profile. */
  blocked = $state<User[]>([]);

  private applySelf(user: User): void {
    if (!session.user) return;
    Object.assign(session.user, user);
    chat.users[user._id] = { ...chat.users[user._id], ...user };
  }

  async saveProfile(fields: ProfileFields): Promise<void> {
    const { user } = await api<{ user: User }>('/api/auth/profile', { method: 'PUT', body: fields });
    this.applySelf(user);
  }

  async saveSettings(changes: Partial<UserSettings>): Promise<void> {
    const { user } = await api<{ user: User }>('/api/auth/profile', { method: 'PUT', body: { settings: changes } });
    this.applySelf(user);
  }

  async uploadAvatar(file: File, onProgress: (fraction: number) => void): Promise<void> {
    const { user } = await upload(await squarePicture(file), onProgress, { method: 'PUT', path: '/api/auth/avatar' });
    this.applySelf(user);
  }

  /** Back to the generated picture with the user's initials. */
  async resetAvatar(): Promise<void> {
    const { user } = await api<{ user: User }>('/api/auth/profile', { method: 'PUT', body: { avatar: '' } });
    this.applySelf(user);
  }

  /** Changes the password: this page gets a new session, every other one ends (the server's rule). */
  async changePassword(currentPassword: string, newPassword: string, confirmPassword: string): Promise<void> {
    const { tokens } = await replacingSession(() => api('/api/auth/password', { method: 'PUT', body: { currentPassword, newPassword, confirmPassword } }));
    setTokens(tokens);
  }

  async loadBlocked(): Promise<void> {
    const { user } = await api<{ user: User }>('/api/auth/me');
    this.applySelf(user);
    const ids = user.blockedUsers ?? [];
    const users = await Promise.all(ids.map((id) => api<{ user: User }>(`/api/users/${id}`).then((answer) => answer.user, () => ({ _id: id, username: 'Unknown user' }) as User)));
    this.blocked = users;
  }

  async block(userId: string): Promise<void> {
    const { blockedUsers } = await api<{ blockedUsers: string[] }>(`/api/auth/block/${userId}`, { method: 'POST', body: {} });
    if (session.user) session.user.blockedUsers = blockedUsers;
  }

  async unblock(userId: string): Promise<void> {
    const { blockedUsers } = await api<{ blockedUsers: string[] }>(`/api/auth/block/${userId}`, { method: 'DELETE', body: {} });
    if (session.user) session.user.blockedUsers = blockedUsers;
    this.blocked = this.blocked.filter((user) => user._id !== userId);
  }
}

export const settings = new Settings();
