import type { MongoClient } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiClient, type ApiClient } from '../support/api.js';
import { connectTestDb, startChatd, TEST_ORIGIN, type ChatdServer } from '../support/chatd.js';
import { createUser } from '../support/factories.js';
import { HubClient } from '../support/hub-client.js';
import { flipSignatureByte, forgeToken } from '../support/tokens.js';
import { until } from '../support/processes.js';

let server: ChatdServer;
let api: ApiClient;
let client: MongoClient;
// Tokens are accepted only for users that exist (and are enabled).
const users: string[] = [];

beforeAll(async () => {
  server = await startChatd({ env: { WS_AUTH_TIMEOUT_SECONDS: '1', JSON_BODY_LIMIT: '2048' } });
  api = apiClient(server.baseUrl);
  const connection = await connectTestDb(server.mongoUri!);
  client = connection.client;
  for (let i = 0; i < 4; i++) users.push((await createUser(connection.db)).id);
});
afterAll(async () => {
  await client?.close();
  await server?.stop();
});

describe('REST basics', () => {
  it('answers /healthz and /readyz', async () => {
    expect(await api.get('/healthz')).toMatchObject({ status: 200, body: { success: true, status: 'ok' } });
    // Ready once the message timeline is loaded, a moment after "chatd is serving".
    await until('chatd is ready', async () => (await api.get('/readyz')).status === 200);
    expect(await api.get('/readyz')).toMatchObject({ status: 200, body: { success: true, database: 'ok' } });
  });

  it('logs one JSON line per request with a request id', async () => {
    const response = await api.get('/healthz', { headers: { 'X-Request-Id': 'probe-123' } });
    expect(response.headers.get('x-request-id')).toBe('probe-123');
    await new Promise((resolve) => setTimeout(resolve, 100));
    const line = server.logs.map((l) => JSON.parse(l)).find((entry) => entry.reqId === 'probe-123');
    expect(line).toMatchObject({ msg: 'request', method: 'GET', path: '/healthz', status: 200 });
  });

  it('answers unknown routes with the error envelope', async () => {
    expect(await api.get('/api/nope')).toMatchObject({ status: 404, body: { success: false, error: { code: 'NOT_FOUND' } } });
  });

  it('refuses bodies that are not JSON with 415', async () => {
    const response = await api.post('/healthz', undefined, { raw: 'hello', headers: { 'Content-Type': 'text/plain' } });
    expect(response).toMatchObject({ status: 415, body: { success: false, error: { code: 'UNSUPPORTED_MEDIA_TYPE' } } });
  });

  it('refuses JSON bodies over the limit with 413', async () => {
    const response = await api.post('/healthz', { filler: 'x'.repeat(4096) });
    expect(response).toMatchObject({ status: 413, body: { success: false, error: { code: 'PAYLOAD_TOO_LARGE' } } });
  });

  it('refuses malformed JSON with 400', async () => {
    const response = await api.post('/healthz', undefined, { raw: '{"a":', headers: { 'Content-Type': 'application/json' } });
    expect(response.status).toBe(400);
    expect(response.body).toMatchObject({ success: false, error: { code: 'VALIDATION_FAILED' } });
  });

  it('allows CORS only for configured origins', async () => {
    const allowed = await api.call('OPTIONS', '/healthz', undefined, { headers: { Origin: TEST_ORIGIN, 'Access-Control-Request-Method': 'POST' } });
    expect(allowed.headers.get('access-control-allow-origin')).toBe(TEST_ORIGIN);
    expect(allowed.headers.get('access-control-allow-credentials')).toBe('true');
    const foreign = await api.call('OPTIONS', '/healthz', undefined, { headers: { Origin: 'https://evil.example', 'Access-Control-Request-Method': 'POST' } });
    expect(foreign.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('sends security headers', async () => {
    const response = await api.get('/healthz');
    expect(response.headers.get('x-content-type-options')).toBe('nosniff');
    expect(response.headers.get('x-frame-options')).toBeTruthy();
  });
});

describe('hub', () => {
  it('answers an event sent before authenticating with UNAUTHORIZED', async () => {
    const client = await HubClient.connect(server.wsUrl);
    const reply = await client.request('join_room', { roomId: 'x' });
    expect(reply).toMatchObject({ event: 'error', data: { code: 'UNAUTHORIZED' } });
    await client.close();
  });

  it('answers malformed JSON, non-objects and unknown events with error frames and keeps serving', async () => {
    const client = await HubClient.connect(server.wsUrl, { token: forgeToken(users[0]!) });
    client.sendRaw('{not json');
    expect((await client.next('error')).data).toMatchObject({ code: 'VALIDATION_FAILED', message: 'Frame is not valid JSON' });
    client.sendRaw('[1,2,3]');
    expect((await client.next('error', (d) => d.message.includes('object'))).data.code).toBe('VALIDATION_FAILED');
    const unknown = await client.request('no_such_event', {});
    expect(unknown).toMatchObject({ event: 'error', data: { code: 'VALIDATION_FAILED', message: 'Unknown event "no_such_event"' } });
    const again = await client.request('authenticate', { token: forgeToken(users[0]!) });
    expect(again.event).toBe('authenticated');
    await client.close();
  });

  it('answers frames over the size limit with PAYLOAD_TOO_LARGE, and closes on huge ones', async () => {
    const client = await HubClient.connect(server.wsUrl);
    client.send('authenticate', { token: 'x'.repeat(70 * 1024) });
    expect((await client.next('error')).data).toMatchObject({ code: 'PAYLOAD_TOO_LARGE' });
    client.sendRaw(Buffer.alloc(2 * 1024 * 1024, 0x20));
    expect([1006, 1009]).toContain((await client.closed).code);
    const fresh = await HubClient.connect(server.wsUrl);
    expect((await fresh.request('authenticate', { token: forgeToken(users[1]!) })).event).toBe('authenticated');
    await fresh.close();
  });

  it('authenticates by first frame, by header and by cookie', async () => {
    const token = forgeToken(users[2]!);
    const byFrame = await HubClient.authenticated(server.wsUrl, token);
    expect(byFrame.received('authenticated')[0]!.data).toEqual({ userId: users[2] });
    const byHeader = await HubClient.connect(server.wsUrl, { token });
    const byCookie = await HubClient.connect(server.wsUrl, { cookie: `chatd_access=${token}` });
    // Authenticated connections are past the auth timeout check.
    await byHeader.settle(1500);
    expect(byHeader.socket.readyState).toBe(byHeader.socket.OPEN);
    expect(byCookie.socket.readyState).toBe(byCookie.socket.OPEN);
    await Promise.all([byFrame.close(), byHeader.close(), byCookie.close()]);
  });

  it('refuses bad tokens: expired, alg none, flipped signature, refresh token', async () => {
    const user = users[3]!;
    const client = await HubClient.connect(server.wsUrl);
    for (const token of [
      forgeToken(user, { expiresInSeconds: -10 }),
      forgeToken(user, { alg: 'none' }),
      flipSignatureByte(forgeToken(user)),
      forgeToken(user, { type: 'refresh' }),
      forgeToken(user, { secret: 'not-the-server-secret-not-the-server-secret' }),
    ]) {
      expect((await client.request('authenticate', { token })).data.code).toBe('UNAUTHORIZED');
    }
    expect(await HubClient.refused(server.wsUrl, { token: forgeToken(user, { expiresInSeconds: -10 }) })).toMatchObject({ error: { data: { code: 'UNAUTHORIZED' } }, close: { code: 1008 } });
    await client.close();
  });

  it('closes connections that never authenticate', async () => {
    const client = await HubClient.connect(server.wsUrl);
    const closed = await client.closed;
    expect(closed.code).toBe(1008);
  });

  it('refuses upgrades from foreign origins and accepts allowed ones', async () => {
    await expect(HubClient.connect(server.wsUrl, { origin: 'https://evil.example' })).rejects.toMatchObject({ statusCode: 403 });
    const allowed = await HubClient.connect(server.wsUrl, { origin: TEST_ORIGIN });
    await allowed.close();
  });

  it('answers plain HTTP on the hub port with 404', async () => {
    const response = await fetch(`http://127.0.0.1:${server.wsPort}/`);
    expect(response.status).toBe(404);
  });
});
