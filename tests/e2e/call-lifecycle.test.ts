import type { Db, MongoClient } from 'mongodb';
import { ObjectId } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { UserDocument } from '../../src/modules/users/types.js';
import { apiClient } from '../support/api.js';
import { connectTestDb, startChatd, testDatabaseUri, type ChatdServer } from '../support/chatd.js';
import { createUser } from '../support/factories.js';
import { HubClient } from '../support/hub-client.js';
import { createRoom } from '../support/rooms.js';

// Calls across chatd restarts and the ring timeout: each server here shares one database.
type TestUser = UserDocument & { token: string; id: string };

const mongoUri = testDatabaseUri('calls_lifecycle');
let client: MongoClient;
let db: Db;
const servers: ChatdServer[] = [];

beforeAll(async () => {
  ({ client, db } = await connectTestDb(mongoUri));
});

afterAll(async () => {
  await Promise.all(servers.map((server) => server.stop()));
  await client?.close();
});

async function start(env: Record<string, string> = {}): Promise<ChatdServer> {
  const server = await startChatd({ mongoUri, env });
  servers.push(server);
  return server;
}

async function pair(): Promise<{ caller: TestUser; callee: TestUser; roomId: string }> {
  const [caller, callee] = await Promise.all([createUser(db), createUser(db)]);
  const room = await createRoom(db, [caller._id, callee._id]);
  return { caller, callee, roomId: room.id };
}

/** Places a call from `caller` to `callee` on `server`; the callee accepts when `answer` is set. */
async function placeCall(server: ChatdServer, answer: boolean) {
  const { caller, callee, roomId } = await pair();
  const a = await HubClient.authenticated(server.wsUrl, caller.token);
  const b = await HubClient.authenticated(server.wsUrl, callee.token);
  const reply = await a.request('call_user', { targetUserId: callee.id, roomId, callType: 'audio' });
  expect(reply.event).toBe('call_ringing');
  const callId = reply.data.callId as string;
  if (answer) expect((await b.request('accept_call', { callId })).event).toBe('call_accepted');
  return { callId, caller, callee, a, b };
}

const callDoc = (callId: string) => db.collection('calls').findOne({ _id: new ObjectId(callId) });

async function logLine(server: ChatdServer, msg: string): Promise<Record<string, unknown>> {
  for (let waited = 0; waited < 20_000; waited += 50) {
    const line = server.logs.map((l) => { try { return JSON.parse(l) as Record<string, unknown>; } catch { return {}; } }).find((entry) => entry.msg === msg);
    if (line) return line;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`no "${msg}" log line:\n${server.logs.join('\n')}`);
}

describe('calls across restarts', () => {
  let first: ChatdServer;
  let second: ChatdServer;
  let crashed: { active: string; ringing: string };

  it('closes the calls a crashed run left ringing or active when chatd starts again', async () => {
    first = await start();
    const active = await placeCall(first, true);
    const ringing = await placeCall(first, false);
    crashed = { active: active.callId, ringing: ringing.callId };
    expect((await callDoc(active.callId))?.status).toBe('active');
    await first.stop('SIGKILL');

    second = await start({ CALL_RING_TIMEOUT_SECONDS: '1' });
    expect(await logLine(second, 'closed calls an earlier run left in progress')).toMatchObject({ closed: 2 });
    expect(await callDoc(crashed.active)).toMatchObject({ status: 'ended', endReason: 'server_restart' });
    expect(await callDoc(crashed.ringing)).toMatchObject({ status: 'missed', endReason: 'server_restart', duration: 0 });
    const listed = await apiClient(second.baseUrl).get('/api/calls', { token: active.callee.token });
    expect(listed.body.calls[0]).toMatchObject({ _id: active.callId, status: 'ended', endReason: 'server_restart', duration: null });
    // Nobody is stuck in the old call: the same two can call again.
    const again = await HubClient.authenticated(second.wsUrl, active.caller.token);
    const callee = await HubClient.authenticated(second.wsUrl, active.callee.token);
    const reply = await again.request('call_user', { targetUserId: active.callee.id, roomId: (await callDoc(active.callId))!.roomId.toHexString(), callType: 'audio' });
    expect(reply.event).toBe('call_ringing');
    await callee.request('reject_call', { callId: reply.data.callId });
    await Promise.all([again.close(), callee.close()]);
    // Two chatd starts in one test: allow for a machine busy with other work.
  }, 180_000);

  it('ends an unanswered call as missed when the ring timeout passes, on every device', async () => {
    const { caller, callee, roomId } = await pair();
    const a = await HubClient.authenticated(second.wsUrl, caller.token);
    const b1 = await HubClient.authenticated(second.wsUrl, callee.token);
    const b2 = await HubClient.authenticated(second.wsUrl, callee.token);
    const ended = [a.next('call_ended'), b1.next('call_ended'), b2.next('call_ended')];
    const callId = (await a.request('call_user', { targetUserId: callee.id, roomId, callType: 'video' })).data.callId;
    for (const frame of await Promise.all(ended)) {
      expect(frame.data).toEqual({ callId, status: 'missed', reason: 'timeout', endedBy: null, duration: 0 });
    }
    expect(await callDoc(callId)).toMatchObject({ status: 'missed', endReason: 'timeout', duration: 0 });
    expect((await b1.request('accept_call', { callId })).data.code).toBe('NOT_FOUND');
    await Promise.all([a.close(), b1.close(), b2.close()]);
  });

  it('answers an empty ICE server list when none is configured', async () => {
    const user = await createUser(db);
    const response = await apiClient(second.baseUrl).get('/api/calls/ice-servers', { token: user.token });
    expect(response.body).toEqual({ success: true, iceServers: [], ttl: 12 * 3600 });
  });

  it('ends calls in progress and records them when chatd stops cleanly', async () => {
    const active = await placeCall(second, true);
    const closed = active.a.closed;
    expect(await second.stop('SIGTERM')).toBe(0);
    expect((await closed).code).toBe(1001);
    const doc = await callDoc(active.callId);
    expect(doc).toMatchObject({ status: 'ended', endReason: 'server_shutdown' });
    expect(typeof doc!.duration).toBe('number');
    expect(doc!.endedAt.getTime()).toBeGreaterThanOrEqual(doc!.answeredAt.getTime());
  });
});
