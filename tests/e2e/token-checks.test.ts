import { afterAll, describe, expect, it } from 'vitest';
import type { Db, MongoClient } from 'mongodb';
import { expectError, register } from '../support/accounts.js';
import { apiClient } from '../support/api.js';
import { connectTestDb, freePort, startChatd, testDatabaseUri, type ChatdServer } from '../support/chatd.js';
import { createUser } from '../support/factories.js';
import { HubClient } from '../support/hub-client.js';

// A token check (every REST request, every hub authentication) must not cost database reads once
// chatd has read every account's standing and every live revocation at start-up; revocations made
// before a restart must hold after it.

const mongoUri = testDatabaseUri('tokchk');
let server: ChatdServer | undefined;
let connection: { client: MongoClient; db: Db } | undefined;

afterAll(async () => {
  await connection?.client.close();
  await server?.stop();
});

async function findCount(metricsPort: number): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith('chatd_db_command_duration_seconds_count{') && l.includes('command="find"'));
  return line ? Number(line.split(' ').at(-1)) : 0;
}

describe('token checks after start-up', { timeout: 180_000 }, () => {
  it('answer known accounts from memory, and still refuse what was revoked before a restart', async () => {
    const metricsPort = await freePort();
    // The change log is not read during the measurement: its reads are not token checks.
    const env = { METRICS_PORT: String(metricsPort), BCRYPT_COST: '10', AUTH_CACHE_SECONDS: '3600', SESSION_RECHECK_SECONDS: '3600', WS_CONNECTIONS_PER_ADDRESS: '100' };
    server = await startChatd({ mongoUri, env });
    let api = apiClient(server.baseUrl);
    connection = await connectTestDb(mongoUri);
    const known = await Promise.all(Array.from({ length: 20 }, () => createUser(connection!.db)));
    const leaver = await register(api);
    expect((await api.post('/api/auth/logout', { refreshToken: leaver.refreshToken }, { token: leaver.accessToken })).status).toBe(200);
    expect(await server.stop()).toBe(0);

    server = await startChatd({ mongoUri, env });
    api = apiClient(server.baseUrl);
    // Ready only once the start-up reads are done: clients arriving then cost no reads.
    await expect.poll(async () => (await fetch(`${server!.baseUrl}/readyz`)).status, { timeout: 30_000, interval: 20 }).toBe(200);
    expect(server.logs.some((line) => line.includes('"token checks answer from memory"'))).toBe(true);
    expect(server.logs.some((line) => line.includes('"memberships cached"'))).toBe(true);

    // Revoked before the restart: refused over REST and on the hub.
    expectError(await api.get('/api/auth/me', { token: leaver.accessToken }), 401, 'UNAUTHORIZED');
    await expect(HubClient.connect(server.wsUrl, { token: leaver.accessToken })).rejects.toThrow(/token refused/);
    expectError(await api.post('/api/auth/refresh', { refreshToken: leaver.refreshToken }), 401, 'UNAUTHORIZED');

    // Twenty accounts known at start-up authenticate on the hub without a read each.
    const before = await findCount(metricsPort);
    const sockets = await Promise.all(known.map((user) => HubClient.connect(server!.wsUrl, { token: user.token })));
    const reads = (await findCount(metricsPort)) - before;
    for (const socket of sockets) socket.close();
    expect(reads).toBeLessThan(known.length / 4);

    // An account created after start-up is read once, then known.
    const late = await createUser(connection.db);
    const first = await HubClient.connect(server.wsUrl, { token: late.token });
    first.close();
    const beforeLate = await findCount(metricsPort);
    const again = await Promise.all(Array.from({ length: 5 }, () => HubClient.connect(server!.wsUrl, { token: late.token })));
    for (const socket of again) socket.close();
    expect((await findCount(metricsPort)) - beforeLate).toBeLessThan(2);

    // This process's own changes apply at once: logout, then the same token is refused.
    const stayer = await register(api);
    expect((await api.get('/api/auth/me', { token: stayer.accessToken })).status).toBe(200);
    expect((await api.post('/api/auth/logout', {}, { token: stayer.accessToken })).status).toBe(200);
    expectError(await api.get('/api/auth/me', { token: stayer.accessToken }), 401, 'UNAUTHORIZED');
  });
});
