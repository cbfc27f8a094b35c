import { api } from '../lib/api';

export interface AdminUser {
  _id: string;
  username: string;
  email: string;
  role: 'user' | 'admin';
  disabled: boolean;
  status: string;
  lastSeen: string;
  createdAt: string;
}

export interface ServerHealth {
  version: string;
  node: string;
  startedAt: string;
  uptimeSeconds: number;
  database: { kind: 'mongodb' | 'embedded'; engine: 'mongodb' | 'ferretdb'; ready: boolean; latencyMs?: number; error?: string };
  clients: { users: number; connections: number };
  activeCalls: number;
}

export interface BackupEntry {
  name: string;
  size: number;
  createdAt: string;
}

export interface BackupRun {
  state: 'running' | 'done' | 'failed';
  startedAt: string;
  name?: string;
  error?: string;
}

export interface AdminRoom {
  _id: string;
  name: string;
  type: 'public' | 'private';
  memberCount: number;
  retentionDays: number | null;
}

const PAGE = 20;
const BACKUP_POLL_MS = 1000;

/**
 * The admin console's data, from /api/admin (docs: README, "Endpoints"). The server refuses all of
 * it to anyone but administrators; the app only hides the console from them.
 */
class Admin {
  health = $state<ServerHealth | null>(null);
  users = $state<AdminUser[]>([]);
  usersPage = $state(1);
  usersSearch = $state('');
  usersHasMore = $state(false);
  backups = $state<BackupEntry[]>([]);
  current = $state<BackupRun | null>(null);
  rooms = $state<AdminRoom[]>([]);
  roomsPage = $state(1);
  roomsSearch = $state('');
  roomsHasMore = $state(false);
  globalRetentionDays = $state<number | null>(null);
  private poll: ReturnType<typeof setTimeout> | undefined;

  get backupRunning(): boolean {
    return this.current?.state === 'running';
  }

  async loadHealth(): Promise<void> {
    this.health = (await api<{ health: ServerHealth }>('/api/admin/health')).health;
  }

  async loadUsers(page: number, search: string): Promise<void> {
    const query = new URLSearchParams({ page: String(page), limit: String(PAGE), ...(search ? { search } : {}) });
    const answer = await api<{ users: AdminUser[]; hasMore: boolean }>(`/api/admin/users?${query}`);
    Object.assign(this, { users: answer.users, usersPage: page, usersSearch: search, usersHasMore: answer.hasMore });
  }

  async setDisabled(userId: string, disabled: boolean): Promise<void> {
    const { user } = await api<{ user: AdminUser }>(`/api/admin/users/${userId}/${disabled ? 'disable' : 'enable'}`, { body: {} });
    this.replaceUser(user);
  }

  async setRole(userId: string, role: 'user' | 'admin'): Promise<void> {
    const { user } = await api<{ user: AdminUser }>(`/api/admin/users/${userId}/role`, { method: 'PUT', body: { role } });
    this.replaceUser(user);
  }

  /** A generated password, which the server shows only in this answer. */
  async resetPassword(userId: string): Promise<string> {
    const { password, user } = await api<{ password: string; user: AdminUser }>(`/api/admin/users/${userId}/password`, { body: {} });
    this.replaceUser(user);
    return password;
  }

  async loadBackups(): Promise<void> {
    const answer = await api<{ backups: BackupEntry[]; current: BackupRun | null }>('/api/admin/backups');
    this.backups = answer.backups;
    this.current = answer.current;
    clearTimeout(this.poll);
    if (this.backupRunning) this.poll = setTimeout(() => void this.loadBackups().catch(() => undefined), BACKUP_POLL_MS);
  }

  async startBackup(): Promise<void> {
    this.current = (await api<{ current: BackupRun }>('/api/admin/backups', { body: {} })).current;
    await this.loadBackups();
  }

  stopPolling(): void {
    clearTimeout(this.poll);
  }

  async loadRooms(page: number, search: string): Promise<void> {
    const query = new URLSearchParams({ page: String(page), limit: String(PAGE), ...(search ? { search } : {}) });
    const answer = await api<{ rooms: AdminRoom[]; hasMore: boolean; globalRetentionDays: number | null }>(`/api/admin/rooms?${query}`);
    Object.assign(this, { rooms: answer.rooms, roomsPage: page, roomsSearch: search, roomsHasMore: answer.hasMore, globalRetentionDays: answer.globalRetentionDays });
  }

  async setRetention(roomId: string, retentionDays: number | null): Promise<void> {
    const { room } = await api<{ room: AdminRoom }>(`/api/admin/rooms/${roomId}`, { method: 'PATCH', body: { retentionDays } });
    this.rooms = this.rooms.map((entry) => (entry._id === room._id ? { ...entry, retentionDays: room.retentionDays } : entry));
  }

  private replaceUser(user: AdminUser): void {
    this.users = this.users.map((entry) => (entry._id === user._id ? user : entry));
  }
}

export const admin = new Admin();
