import { ObjectId } from 'mongodb';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { HubClient } from '../support/hub-client.js';
import { messagingFixture, type MessagingFixture } from '../support/messaging.js';
import { SioClient } from '../support/sio-client.js';

// Limits small enough to reach in a test; the per-connection rate is high so that only the
// per-account one can refuse.
const PER_USER_RATE = 10;
const PER_USER_CONNECTIONS = 3;
const PER_ADDRESS_CONNECTIONS = 8;
const REFUSED_LIMIT = 20;

let fx: MessagingFixture;

beforeAll(async () => {
  fx = await messagingFixture({
    env: {
      WS_EVENTS_PER_SECOND: '1000',
      WS_USER_EVENTS_PER_SECOND: String(PER_USER_RATE),
      WS_CONNECTIONS_PER_USER: String(PER_USER_CONNECTIONS),
      WS_CONNECTIONS_PER_ADDRESS: String(PER_ADDRESS_CONNECTIONS),
      WS_REFUSED_FRAMES_LIMIT: String(REFUSED_LIMIT),
    },
  });
});
afterAll(async () => {
  await fx?.close();
});

const opened: { natives: HubClient[]; sockets: SioClient[] } = { natives: [], sockets: [] };
/** Every test leaves the address with no connection open, whatever happened in it. */
afterEach(async () => {
  await closeAll(opened.natives.splice(0), opened.sockets.splice(0));
});

async function nativeClient(token?: string): Promise<HubClient> {
  const client = await HubClient.connect(fx.server.wsUrl, token ? { token } : {});
  opened.natives.push(client);
  return client;
}

async function socketClient(token: string): Promise<SioClient> {
  const client = await SioClient.connect(fx.server.baseUrl, { auth: { token } });
  opened.sockets.push(client);
  return client;
}

/** Closes clients of both kinds and waits until the hub admits a connection from this address again. */
async function closeAll(natives: HubClient[], sockets: SioClient[]): Promise<void> {
  for (const socket of sockets) socket.close();
  await Promise.all(natives.map((hub) => hub.close()));
  await expect
    .poll(async () => {
      try {
        const probe = await HubClient.connect(fx.server.wsUrl);
        await probe.close();
        return true;
      } catch {
        return false;
      }
    })
    .toBe(true);
}

describe('per-account limits, whatever the transport', () => {
  it('counts every connection of an account against one event rate', async () => {
    const [alice] = await fx.users(1);
    const roomId = await fx.room(alice!);
    const natives = [await nativeClient(alice!.token), await nativeClient(alice!.token)];
    const socket = await socketClient(alice!.token);
    const started = Date.now();
    // Few enough refusals per connection to stay under the refused-frames limit.
    const perConnection = 15;
    const replies = await Promise.all([
      ...natives.flatMap((hub, h) => Array.from({ length: perConnection }, (_, i) => hub.request('send_message', { roomId, content: `n${h} ${i}` }).then((frame) => frame.event === 'message_sent' ? 'sent' : frame.data.code))),
      ...Array.from({ length: perConnection }, (_, i) => socket.request('send_message', { roomId, content: `s ${i}` }).then((ack) => (ack.success ? 'sent' : ack.error.code))),
    ]);
    const elapsedSeconds = (Date.now() - started) / 1000;
    const sent = replies.filter((reply) => reply === 'sent').length;
    // A burst of twice the rate, plus what refilled while the flood lasted.
    expect(sent).toBeLessThanOrEqual(PER_USER_RATE * 2 + Math.ceil(PER_USER_RATE * elapsedSeconds) + 1);
    expect(replies.filter((reply) => reply !== 'sent').every((reply) => reply === 'RATE_LIMITED')).toBe(true);
    expect(natives.flatMap((hub) => hub.received('error')).map((frame) => frame.data)).toContainEqual(
      expect.objectContaining({ code: 'RATE_LIMITED', retryAfter: 1, setting: 'WS_USER_EVENTS_PER_SECOND', message: expect.stringContaining('for one account') }),
    );
    // Only what was acknowledged is stored.
    expect(await fx.db.collection('messages').countDocuments({ roomId: new ObjectId(roomId) })).toBe(sent);
  });

  it('caps the open connections of one account, over /ws and Socket.IO alike', async () => {
    const [alice, bob] = await fx.users(2);
    const natives = [await nativeClient(alice!.token), await nativeClient(alice!.token)];
    const socket = await socketClient(alice!.token);
    const overNative = await HubClient.refused(fx.server.wsUrl, { token: alice!.token });
    const capped = { code: 'RATE_LIMITED', retryAfter: 10, setting: 'WS_CONNECTIONS_PER_USER', message: expect.stringContaining('WS_CONNECTIONS_PER_USER') };
    expect(overNative.error.data).toMatchObject(capped);
    expect(overNative.close.code).toBe(1008);
    const overSocketIo = await SioClient.refusal(fx.server.baseUrl, { auth: { token: alice!.token } });
    expect(overSocketIo.data).toMatchObject(capped);
    // The authenticate frame is held to the same cap.
    const late = await nativeClient();
    expect((await late.request('authenticate', { token: alice!.token })).data).toMatchObject(capped);
    // Another account is not affected, and a closed connection frees its place.
    const other = await nativeClient(bob!.token);
    await natives.pop()!.close();
    await expect.poll(async () => (await late.request('authenticate', { token: alice!.token })).event).toBe('authenticated');
  });
});

describe('per-address cap', () => {
  it('refuses one more connection from an address holding its share, on both transports', async () => {
    // Connections of earlier tests may still be on their way out: take the whole share as they go.
    const held: HubClient[] = [];
    await expect
      .poll(async () => {
        while (held.length < PER_ADDRESS_CONNECTIONS) held.push(await nativeClient());
        return held.length;
      }, { timeout: 10_000 })
      .toBe(PER_ADDRESS_CONNECTIONS);
    await expect(HubClient.connect(fx.server.wsUrl)).rejects.toMatchObject({ statusCode: 429, retryAfter: '10', body: expect.stringContaining('set by WS_CONNECTIONS_PER_ADDRESS') });
    const overSocketIo = await SioClient.refusal(fx.server.baseUrl, { auth: { token: (await fx.users(1))[0]!.token } });
    expect(overSocketIo.data).toMatchObject({ code: 'RATE_LIMITED', retryAfter: 10, setting: 'WS_CONNECTIONS_PER_ADDRESS', message: expect.stringContaining('WS_CONNECTIONS_PER_ADDRESS') });
  });
});

describe('connections that keep sending refused frames', () => {
  it('closes a /ws connection after the limit instead of answering every bad frame', async () => {
    const [alice, bob] = await fx.users(2);
    const roomId = await fx.room(alice!, [bob!]);
    const flooder = await nativeClient(alice!.token);
    const bystander = await nativeClient(bob!.token);
    for (let i = 0; i < REFUSED_LIMIT * 10; i += 1) flooder.sendRaw('{not json');
    expect(await flooder.closed).toEqual({ code: 1008, reason: 'too many refused frames' });
    expect(flooder.received('error')).toHaveLength(REFUSED_LIMIT);
    expect((await bystander.request('join_room', { roomId })).event).toBe('message_history');
  });

  it('closes a Socket.IO connection after the limit too, saying why', async () => {
    const [alice] = await fx.users(1);
    const socket = await socketClient(alice!.token);
    const gone = socket.disconnected();
    for (let i = 0; i < REFUSED_LIMIT * 10; i += 1) socket.emit('send_message', { roomId: { $gt: '' }, content: 'x' });
    expect(await gone).toBe('io server disconnect');
    expect(socket.received('closing')).toEqual([{ code: 1008, reason: 'too many refused frames' }]);
    expect(socket.received('error')).toHaveLength(REFUSED_LIMIT);
  });
});
