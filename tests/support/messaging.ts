import type { Db, MongoClient } from 'mongodb';
import { apiClient, type ApiClient } from './api.js';
import { connectTestDb, startChatd, type ChatdServer, type StartOptions } from './chatd.js';
import { createUser } from './factories.js';
import { HubClient, type Frame } from './hub-client.js';

export type TestUser = Awaited<ReturnType<typeof createUser>>;

/** A spawned chatd with its database open for factories and direct checks. */
export interface MessagingFixture {
  server: ChatdServer;
  db: Db;
  client: MongoClient;
  api: ApiClient;
  users(count: number): Promise<TestUser[]>;
  /** Creates a room owned by `owner` and adds `members` (201 each). */
  room(owner: TestUser, members?: TestUser[], type?: 'public' | 'private'): Promise<string>;
  /** A hub connection authenticated by header. */
  connect(user: TestUser): Promise<HubClient>;
  close(): Promise<void>;
}

/** startChatd, again when another process took one of the free ports it picked before chatd bound it. */
export async function startChatdRetrying(options: StartOptions = {}): Promise<ChatdServer> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await startChatd(options);
    } catch (error) {
      if (attempt >= 3 || !/in use/.test((error as Error).message)) throw error;
    }
  }
}

export async function messagingFixture(options: StartOptions = {}): Promise<MessagingFixture> {
  const server = await startChatdRetrying(options);
  const { client, db } = await connectTestDb(server.mongoUri!);
  const api = apiClient(server.baseUrl);
  const hubs: HubClient[] = [];
  return {
    server,
    db,
    client,
    api,
    users: (count) => Promise.all(Array.from({ length: count }, () => createUser(db))),
    async room(owner, members = [], type = 'private') {
      const created = await api.post('/api/rooms', { name: `room ${Math.random().toString(36).slice(2, 8)}`, type }, { token: owner.token });
      if (created.status !== 201) throw new Error(`room creation failed: ${JSON.stringify(created.body)}`);
      const roomId = created.body.room._id as string;
      for (const member of members) {
        const added = await api.post(`/api/rooms/${roomId}/members`, { userId: member.id }, { token: owner.token });
        if (added.status !== 201) throw new Error(`adding a member failed: ${JSON.stringify(added.body)}`);
      }
      return roomId;
    },
    async connect(user) {
      const hub = await HubClient.connect(server.wsUrl, { token: user.token });
      hubs.push(hub);
      return hub;
    },
    async close() {
      await Promise.all(hubs.map((hub) => hub.close()));
      await client.close();
      await server.stop();
    },
  };
}

/** join_room, answered by message_history. */
export async function join(hub: HubClient, roomId: string, since?: string): Promise<Frame> {
  const reply = await hub.request('join_room', since ? { roomId, since } : { roomId });
  if (reply.event !== 'message_history') throw new Error(`join_room failed: ${JSON.stringify(reply.data)}`);
  return reply;
}

/** send_message, answered by message_sent; returns the stored message. */
export async function send(hub: HubClient, roomId: string, content: string, extra: Record<string, unknown> = {}): Promise<any> {
  const reply = await hub.request('send_message', { roomId, content, ...extra });
  if (reply.event !== 'message_sent') throw new Error(`send_message failed: ${JSON.stringify(reply.data)}`);
  return reply.data.message;
}
