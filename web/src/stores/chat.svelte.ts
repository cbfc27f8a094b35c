import { api, ApiError, upload } from '../lib/api';
import { Hub, HubError, type HubState } from '../lib/hub';
import type { Attachment, Message, Room, User } from '../lib/types';
import { session } from './session.svelte';

/** A message in the timeline: stored, or still on its way (optimistic, keyed by clientMsgId). */
export interface TimelineMessage extends Message {
  sending?: boolean;
}

const TYPING_SHOWN_MS = 6000;

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const byTime = (a: Message, b: Message) => (a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : a._id < b._id ? -1 : a._id > b._id ? 1 : 0);

/**
 * Everything the chat screen shows, kept live from the hub: rooms with unread counts and last
 * messages, each joined room's timeline, typing, presence. Joining every room on (re)connect with
 * `since` = the newest message held is what makes reconnects lose and duplicate nothing.
 */
class Chat {
  rooms = $state<Room[]>([]);
  timelines = $state<Record<string, TimelineMessage[]>>({});
  olderAvailable = $state<Record<string, boolean>>({});
  activeRoomId = $state<string | null>(null);
  typing = $state<Record<string, Record<string, number>>>({});
  users = $state<Record<string, User>>({});
  hubState = $state<HubState>('offline');
  /** The server's answer to the last message it refused, shown next to the composer. */
  composerError = $state<string | null>(null);
  /** Text of a refused message, handed back to the composer so nothing typed is lost. */
  returnedDraft = $state<string | null>(null);
  private hub: Hub | undefined;
  private readonly requestedUsers = new Set<string>();
  private typingSweep: ReturnType<typeof setInterval> | undefined;

  get me(): string {
    return session.user?._id ?? '';
  }

  get activeRoom(): Room | undefined {
    return this.rooms.find((room) => room._id === this.activeRoomId);
  }

  get totalUnread(): number {
    return this.rooms.reduce((sum, room) => sum + (room.unreadCount ?? 0), 0);
  }

  async start(): Promise<void> {
    if (session.user) this.users[session.user._id] = session.user;
    const { rooms } = await api<{ rooms: Room[] }>('/api/rooms?limit=100');
    this.rooms = rooms;
    for (const room of rooms) this.noteRoomUsers(room);
    const hub = (this.hub = new Hub(session.config.hubUrl, () => {
      this.stop();
      session.clear();
    }));
    hub.onState((state) => (this.hubState = state));
    hub.onReady(() => void this.resume());
    hub.on('new_message', ({ message }) => this.received(message));
    hub.on('message_edited', ({ message }) => this.upsert(message));
    hub.on('message_deleted', ({ message }) => this.upsert(message));
    hub.on('reaction_added', (data) => this.reactionsChanged(data));
    hub.on('reaction_removed', (data) => this.reactionsChanged(data));
    hub.on('message_read', (receipt) => this.receiptReceived(receipt));
    hub.on('user_typing', ({ roomId, userId, isTyping }) => {
      if (!this.typing[roomId]) this.typing[roomId] = {};
      const room = this.typing[roomId];
      this.ensureUser(userId);
      if (isTyping) room[userId] = Date.now() + TYPING_SHOWN_MS;
      else delete room[userId];
    });
    hub.on('user_status_changed', ({ userId, status, customStatus }) => {
      const user = this.users[userId];
      if (user) Object.assign(user, { status, customStatus: customStatus ?? user.customStatus });
      else this.ensureUser(userId);
    });
    hub.on('room_added', ({ room }) => this.roomAdded(room));
    hub.on('room_updated', ({ room }) => this.patchRoom(room._id, room));
    hub.on('member_joined', ({ roomId, userId }) => {
      const room = this.rooms.find((r) => r._id === roomId);
      if (room && userId !== this.me) room.memberCount += 1;
      this.ensureUser(userId);
    });
    hub.on('member_left', ({ roomId, userId }) => {
      if (userId === this.me) return this.forgetRoom(roomId);
      const room = this.rooms.find((r) => r._id === roomId);
      if (room) room.memberCount = Math.max(1, room.memberCount - 1);
    });
    this.typingSweep = setInterval(() => this.sweepTyping(), 1000);
    hub.start();
  }

  stop(): void {
    this.hub?.stop();
    this.hub = undefined;
    clearInterval(this.typingSweep);
    this.rooms = [];
    this.timelines = {};
    this.activeRoomId = null;
  }

  /** After every (re)authentication: catch up each room from its newest message, then resend what waits. */
  private async resume(): Promise<void> {
    // A few at a time: the hub allows a connection WS_EVENTS_PER_SECOND events (bursts of twice that).
    const queue = this.rooms.map((room) => room._id);
    const worker = async () => {
      for (let roomId = queue.shift(); roomId !== undefined; roomId = queue.shift()) await this.join(roomId);
    };
    await Promise.all(Array.from({ length: 4 }, worker));
  }

  private async join(roomId: string, attempt = 0): Promise<void> {
    if (!this.hub) return;
    try {
      for (;;) {
        const since = this.newestStored(roomId);
        const { data } = await this.hub.send('join_room', since ? { roomId, since } : { roomId });
        // Merged, not replaced: a message stored just after the server read the history arrives live first.
        for (const message of [...data.messages, ...data.updated]) this.upsert(message);
        if (!since) this.olderAvailable[roomId] = data.hasMore;
        for (const message of data.messages) this.ensureUser(message.senderId);
        if (!since || !data.hasMore) break;
      }
    } catch (error) {
      if (error instanceof HubError && error.code === 'FORBIDDEN') return this.forgetRoom(roomId);
      if (error instanceof HubError && error.code === 'RATE_LIMITED' && attempt < 5) {
        await pause(1000 * (attempt + 1));
        return this.join(roomId, attempt + 1);
      }
      return;
    }
    const timeline = this.timelines[roomId] ?? [];
    this.summarize(roomId);
    for (const message of timeline.filter((m) => m.sending)) void this.deliver(message);
    if (roomId === this.activeRoomId) this.markRead(roomId);
  }

  /**
   * A room's timeline, created when missing. Read back after assigning: the state proxy wraps what
   * is assigned, and only changes made through the proxy update the screen.
   */
  private timelineOf(roomId: string): TimelineMessage[] {
    if (!this.timelines[roomId]) this.timelines[roomId] = [];
    return this.timelines[roomId];
  }

  private newestStored(roomId: string): string | undefined {
    const timeline = this.timelines[roomId];
    if (!timeline) return undefined;
    for (let i = timeline.length - 1; i >= 0; i--) if (!timeline[i]!.sending) return timeline[i]!._id;
    return undefined;
  }

  /** Inserts or replaces a stored message; it replaces its optimistic copy (same clientMsgId). */
  private upsert(message: Message): void {
    const timeline = this.timelineOf(message.roomId);
    const index = timeline.findIndex((m) => m._id === message._id || (message.clientMsgId && m.sending && m.clientMsgId === message.clientMsgId));
    if (index >= 0) {
      timeline[index] = message;
      if (index > 0 && byTime(timeline[index - 1]!, message) > 0 && !timeline[index - 1]!.sending) timeline.sort(byTime);
      return;
    }
    let at = timeline.length;
    while (at > 0 && (timeline[at - 1]!.sending || byTime(timeline[at - 1]!, message) > 0)) at--;
    timeline.splice(at, 0, message);
  }

  private received(message: Message): void {
    this.upsert(message);
    this.ensureUser(message.senderId);
    const room = this.rooms.find((r) => r._id === message.roomId);
    if (!room) return;
    room.lastMessage = message;
    room.lastMessageAt = message.createdAt;
    this.sortRooms();
    if (message.senderId === this.me) return;
    const seen = message.roomId === this.activeRoomId && document.visibilityState === 'visible';
    if (seen) this.markRead(message.roomId);
    else room.unreadCount = (room.unreadCount ?? 0) + 1;
    if (document.visibilityState === 'hidden') this.notify(room, message);
  }

  /** A browser notification for a direct message or a mention, when the tab is hidden and the user allowed it. */
  private notify(room: Room, message: Message): void {
    if (!('Notification' in window) || Notification.permission !== 'granted') return;
    const name = session.user?.username ?? '';
    const mentioned = name !== '' && (message.content ?? '').toLowerCase().includes(`@${name.toLowerCase()}`);
    if (room.type !== 'direct' && !mentioned) return;
    const sender = this.users[message.senderId]?.username ?? 'Someone';
    const notification = new Notification(room.type === 'direct' ? sender : `${sender} in ${room.name}`, { body: message.content ?? 'sent a file', tag: room._id });
    notification.onclick = () => {
      window.focus();
      this.open(room._id);
    };
  }

  private summarize(roomId: string): void {
    const room = this.rooms.find((r) => r._id === roomId);
    const last = (this.timelines[roomId] ?? []).filter((m) => !m.sending).at(-1);
    if (room && last) {
      room.lastMessage = last;
      room.lastMessageAt = last.createdAt;
      this.sortRooms();
    }
  }

  private sortRooms(): void {
    const at = (room: Room) => room.lastMessageAt ?? '';
    this.rooms.sort((a, b) => (at(a) < at(b) ? 1 : at(a) > at(b) ? -1 : 0));
  }

  private reactionsChanged({ messageId, roomId, reactions }: { messageId: string; roomId: string; reactions: Message['reactions'] }): void {
    const message = this.timelines[roomId]?.find((m) => m._id === messageId);
    if (message) message.reactions = reactions;
  }

  private receiptReceived({ messageId, roomId, userId, readAt }: { messageId: string; roomId: string; userId: string; readAt: string }): void {
    const message = this.timelines[roomId]?.find((m) => m._id === messageId);
    if (message && !message.readBy.some((r) => r.userId === userId)) message.readBy.push({ userId, readAt });
    this.ensureUser(userId);
  }

  private sweepTyping(): void {
    const now = Date.now();
    for (const room of Object.values(this.typing)) for (const [userId, until] of Object.entries(room)) if (until < now) delete room[userId];
  }

  open(roomId: string | null): void {
    this.activeRoomId = roomId;
    this.composerError = null;
    if (roomId) this.markRead(roomId);
  }

  /** Marks the newest message from someone else read: the server moves the read marker and tells the sender. */
  markRead(roomId: string): void {
    const room = this.rooms.find((r) => r._id === roomId);
    if (room) room.unreadCount = 0;
    const latest = (this.timelines[roomId] ?? []).findLast((m) => !m.sending && m.senderId !== this.me && !m.isDeleted);
    if (!latest || latest.readBy.some((r) => r.userId === this.me)) return;
    latest.readBy.push({ userId: this.me, readAt: new Date().toISOString() });
    this.hub?.send('mark_message_read', { messageId: latest._id }).catch(() => undefined);
  }

  /** Sends a message optimistically; it is retried with the same clientMsgId until the server stores it. */
  send(roomId: string, content: string, attachment?: Attachment): void {
    this.composerError = null;
    const clientMsgId = crypto.randomUUID();
    const message: TimelineMessage = {
      _id: `pending-${clientMsgId}`,
      roomId,
      senderId: this.me,
      content,
      messageType: attachment ? (attachment.mimeType.startsWith('image/') ? 'image' : 'file') : 'text',
      fileAttachment: attachment ?? null,
      readBy: [],
      reactions: [],
      editedAt: null,
      isDeleted: false,
      clientMsgId,
      createdAt: new Date().toISOString(),
      sending: true,
    };
    this.timelineOf(roomId).push(message);
    void this.deliver(message);
  }

  private async deliver(message: TimelineMessage, attempt = 0): Promise<void> {
    if (!this.hub || this.hubState !== 'online') return;
    try {
      const { data } = await this.hub.send('send_message', {
        roomId: message.roomId,
        content: message.content,
        clientMsgId: message.clientMsgId,
        messageType: message.messageType,
        ...(message.fileAttachment ? { fileAttachment: { fileId: message.fileAttachment.fileId } } : {}),
      });
      this.received(data.message);
    } catch (error) {
      // Offline or no answer: it stays "sending" and goes again after the reconnect.
      if (error instanceof HubError && (error.code === 'OFFLINE' || error.code === 'TIMEOUT')) return;
      // The server is busy or the connection sent too much: the same message again shortly.
      if (error instanceof HubError && (error.code === 'UNAVAILABLE' || error.code === 'RATE_LIMITED')) {
        await pause(Math.min(30_000, 1000 * 2 ** attempt));
        return this.deliver(message, attempt + 1);
      }
      const timeline = this.timelines[message.roomId] ?? [];
      const index = timeline.findIndex((m) => m.clientMsgId === message.clientMsgId && m.sending);
      if (index >= 0) timeline.splice(index, 1);
      this.composerError = error instanceof Error ? error.message : 'The message was not sent';
      if (message.content && !message.fileAttachment) this.returnedDraft = message.content;
    }
  }

  async edit(message: Message, content: string): Promise<void> {
    const { data } = await this.hub!.send('edit_message', { messageId: message._id, content });
    this.upsert(data.message);
  }

  async remove(message: Message): Promise<void> {
    const { data } = await this.hub!.send('delete_message', { messageId: message._id });
    this.upsert(data.message);
  }

  async toggleReaction(message: Message, emoji: string): Promise<void> {
    const mine = message.reactions.some((r) => r.emoji === emoji && r.userId === this.me);
    const { data } = await this.hub!.send(mine ? 'remove_reaction' : 'add_reaction', { messageId: message._id, emoji });
    this.reactionsChanged(data);
  }

  typingIn(roomId: string, isTyping: boolean): void {
    this.hub?.notify('user_typing', { roomId, isTyping });
  }

  async setStatus(status: string, customStatus: string): Promise<void> {
    const { data } = await this.hub!.send('set_status', { status, customStatus });
    if (session.user) Object.assign(this.users[this.me] ?? {}, { status: data.status ?? status, customStatus: data.customStatus ?? customStatus });
  }

  /** Loads the page before the oldest message held (infinite scroll upward). */
  async loadOlder(roomId: string): Promise<void> {
    const timeline = this.timelines[roomId] ?? [];
    const oldest = timeline.find((m) => !m.sending);
    if (!oldest || !this.olderAvailable[roomId]) return;
    const { messages, hasMore } = await api<{ messages: Message[]; hasMore: boolean }>(`/api/messages?roomId=${roomId}&before=${oldest._id}&limit=50`);
    const known = new Set(timeline.map((m) => m._id));
    this.timelines[roomId] = [...messages.filter((m) => !known.has(m._id)).reverse(), ...timeline];
    this.olderAvailable[roomId] = hasMore;
    for (const message of messages) this.ensureUser(message.senderId);
  }

  async uploadFile(file: File, onProgress: (fraction: number) => void): Promise<Attachment> {
    const { file: stored } = await upload(file, onProgress);
    return stored;
  }

  async createRoom(name: string, type: 'public' | 'private', description: string): Promise<Room> {
    const { room } = await api<{ room: Room }>('/api/rooms', { body: { name, type, ...(description ? { description } : {}) } });
    await this.roomAdded({ ...room, unreadCount: 0 });
    return room;
  }

  async joinPublic(roomId: string): Promise<void> {
    const { room } = await api<{ room: Room }>(`/api/rooms/${roomId}/join`, { method: 'POST', body: {} });
    await this.roomAdded({ ...room, unreadCount: 0 });
  }

  async leave(roomId: string): Promise<void> {
    await api(`/api/rooms/${roomId}/leave`, { method: 'POST', body: {} });
    this.forgetRoom(roomId);
  }

  async invite(roomId: string, userId: string): Promise<void> {
    await api(`/api/rooms/${roomId}/members`, { body: { userId } });
  }

  async directWith(userId: string): Promise<Room> {
    const { room } = await api<{ room: Room }>('/api/rooms/direct', { body: { userId } });
    await this.roomAdded({ ...room, unreadCount: 0 });
    return room;
  }

  async searchUsers(search: string): Promise<User[]> {
    const { users } = await api<{ users: User[] }>(`/api/users?search=${encodeURIComponent(search)}&limit=10`);
    for (const user of users) this.users[user._id] ??= user;
    return users.filter((user) => user._id !== this.me);
  }

  async members(roomId: string): Promise<User[]> {
    const { members } = await api<{ members: { userId: string; user: User | null }[] }>(`/api/rooms/${roomId}/members?limit=100`);
    for (const member of members) if (member.user) this.users[member.userId] = member.user;
    return members.flatMap((member) => (member.user ? [member.user] : []));
  }

  /** A room's name as shown: direct rooms are named after the other person. */
  nameOf(room: Room): string {
    if (room.type !== 'direct') return room.name;
    const other = room.participants?.find((id) => id !== this.me) ?? this.me;
    return this.users[other]?.username ?? 'Direct message';
  }

  otherOf(room: Room): User | undefined {
    const other = room.participants?.find((id) => id !== this.me);
    return other ? this.users[other] : undefined;
  }

  ensureUser(userId: string): void {
    if (this.users[userId] || this.requestedUsers.has(userId)) return;
    this.requestedUsers.add(userId);
    api<{ user: User }>(`/api/users/${userId}`).then(
      ({ user }) => (this.users[userId] = user),
      () => this.requestedUsers.delete(userId),
    );
  }

  private noteRoomUsers(room: Room): void {
    for (const id of room.participants ?? []) this.ensureUser(id);
    if (room.lastMessage) this.ensureUser(room.lastMessage.senderId);
  }

  private async roomAdded(room: Room): Promise<void> {
    if (!this.rooms.some((r) => r._id === room._id)) {
      this.rooms.unshift({ ...room, unreadCount: room.unreadCount ?? 0 });
      this.noteRoomUsers(room);
    }
    await this.join(room._id);
  }

  private patchRoom(roomId: string, changes: Partial<Room>): void {
    const room = this.rooms.find((r) => r._id === roomId);
    if (room) Object.assign(room, { name: changes.name ?? room.name, description: changes.description ?? room.description, memberCount: changes.memberCount ?? room.memberCount });
  }

  private forgetRoom(roomId: string): void {
    this.rooms = this.rooms.filter((room) => room._id !== roomId);
    delete this.timelines[roomId];
    if (this.activeRoomId === roomId) this.activeRoomId = null;
  }
}

export const chat = new Chat();
export { ApiError };
