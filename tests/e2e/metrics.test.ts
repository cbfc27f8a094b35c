import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { register, uniqueAccount } from '../support/accounts.js';
import { apiClient } from '../support/api.js';
import { freePort, repoRoot, runChatd, startChatd, type ChatdServer } from '../support/chatd.js';
import { HubClient } from '../support/hub-client.js';
import { cliEnv } from '../support/ops.js';
import { until } from '../support/wait.js';

/** One sample's value from Prometheus text, or undefined when the series is absent. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(name) || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const found = Object.fromEntries([...(match[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    if (Object.entries(labels).every(([key, value]) => found[key] === value)) return Number(match[3]);
  }
  return undefined;
}

async function scrape(port: number): Promise<string> {
  const response = await fetch(`http://127.0.0.1:${port}/metrics`);
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return response.text();
}

describe('GET /metrics on METRICS_PORT', () => {
  let server: ChatdServer;
  let metricsPort: number;

  beforeAll(async () => {
    metricsPort = await freePort();
    server = await startChatd({ env: { METRICS_PORT: String(metricsPort), BCRYPT_COST: '10' } });
  });
  afterAll(async () => {
    expect(await server?.stop()).toBe(0);
  });

  it('is served on its own port, on the loopback address only, and not on the public port', async () => {
    expect(server.logs.some((line) => line.includes('"msg":"metrics at GET /metrics"') && line.includes('"host":"127.0.0.1"'))).toBe(true);
    expect((await fetch(`${server.baseUrl}/metrics`)).status).toBe(404);
    expect((await fetch(`http://127.0.0.1:${metricsPort}/other`)).status).toBe(404);
  });

  it('counts requests, hub events, deliveries, stores, database commands and backups after traffic', async () => {
    const before = await scrape(metricsPort);
    const registered = (labels: string) => sample(before, 'chatd_http_request_duration_seconds_count', { method: 'POST', route: '/api/auth/register', status: labels }) ?? 0;
    const registeredBefore = registered('201');

    const api = apiClient(server.baseUrl);
    const alice = await register(api, uniqueAccount('metrics'));
    const room = await api.post('/api/rooms', { name: 'metrics room', type: 'public' }, { token: alice.accessToken });
    expect(room.status).toBe(201);
    const roomId: string = room.body.room._id;
    expect((await api.get(`/api/rooms/${'0'.repeat(24)}`, { token: alice.accessToken })).status).toBe(404);

    const hub = await HubClient.authenticated(server.wsUrl, alice.accessToken);
    let during: string;
    try {
      await hub.request('join_room', { roomId });
      expect((await hub.request('send_message', { roomId, content: 'counted' })).event).toBe('message_sent');
      await hub.request('no_such_event', {});
      during = await scrape(metricsPort);
    } finally {
      await hub.close();
    }
    const backup = await runChatd(['backup'], { cwd: server.dataDir, env: await cliEnv(server.dataDir, server.mongoUri), timeoutMs: 120_000 });
    expect(backup.code, backup.stderr).toBe(0);
    const after = await scrape(metricsPort);

    // REST: by route pattern (never the id) and status, with latency buckets.
    expect(sample(after, 'chatd_http_request_duration_seconds_count', { method: 'POST', route: '/api/auth/register', status: '201' })).toBe(registeredBefore + 1);
    expect(sample(after, 'chatd_http_request_duration_seconds_count', { method: 'GET', route: '/api/rooms/:id', status: '404' })).toBe(1);
    expect(sample(after, 'chatd_http_request_duration_seconds_bucket', { method: 'POST', route: '/api/rooms', status: '201', le: '+Inf' })).toBe(1);
    // Hub: connections, events in and out by name, deliveries.
    expect(sample(during, 'chatd_hub_connections')).toBe(1);
    expect(sample(after, 'chatd_hub_events_received_total', { event: 'send_message' })).toBe(1);
    expect(sample(after, 'chatd_hub_events_received_total', { event: 'unknown' })).toBe(1);
    expect(sample(after, 'chatd_hub_events_sent_total', { event: 'message_sent' })).toBe(1);
    expect(sample(after, 'chatd_hub_deliveries_total', { event: 'new_message' })).toBeGreaterThanOrEqual(1);
    // Message store: latency of the one send, and an empty queue now.
    expect(sample(after, 'chatd_message_store_duration_seconds_count')).toBe(1);
    expect(sample(after, 'chatd_message_store_queue_depth')).toBe(0);
    // Database commands, from the driver's command monitoring.
    expect(sample(after, 'chatd_db_command_duration_seconds_count', { command: 'insert' })).toBeGreaterThan(sample(before, 'chatd_db_command_duration_seconds_count', { command: 'insert' }) ?? 0);
    expect(after).toMatch(/^# TYPE chatd_db_command_errors_total counter$/m);
    expect(sample(after, 'chatd_embedded_db_restarts_total')).toBe(0);
    // The backup the CLI took while serving.
    expect(sample(before, 'chatd_backup_last_success_timestamp_seconds')).toBe(0);
    expect(Math.abs(sample(after, 'chatd_backup_last_success_timestamp_seconds')! - Date.now() / 1000)).toBeLessThan(300);
    expect(sample(after, 'chatd_backup_last_success_size_bytes')).toBeGreaterThan(0);
    expect(sample(after, 'chatd_backup_last_success_duration_seconds')).toBeGreaterThan(0);
    expect(sample(after, 'chatd_backup_last_attempt_failed')).toBe(0);
    // Process metrics.
    expect(sample(after, 'process_cpu_user_seconds_total')).toBeGreaterThan(0);
    expect(sample(after, 'nodejs_heap_size_used_bytes')).toBeGreaterThan(0);

    // Every series the shipped Grafana dashboard charts is one chatd exports.
    const dashboard = JSON.parse(readFileSync(join(repoRoot, 'templates', 'grafana-dashboard.json'), 'utf8')) as { panels: { targets: { expr: string }[] }[] };
    const charted = new Set(dashboard.panels.flatMap((panel) => panel.targets.flatMap((target) => target.expr.match(/\b(?:chatd|process|nodejs)_\w+/g) ?? [])));
    expect(charted.size).toBeGreaterThan(10);
    // A labelled family with no series yet (no database command failed) still declares its type.
    for (const name of charted) expect(after, name).toMatch(new RegExp(`^(# TYPE )?${name}(\\{| )`, 'm'));
  }, 180_000);
});

describe('embedded database restarts', () => {
  it('are counted when the launcher dies and chatd restarts it', async () => {
    const metricsPort = await freePort();
    const server = await startChatd({ embedded: true, env: { METRICS_PORT: String(metricsPort) } });
    try {
      expect(sample(await scrape(metricsPort), 'chatd_embedded_db_restarts_total')).toBe(0);
      const { pid } = JSON.parse(readFileSync(join(server.dataDir, 'db', 'embedded.json'), 'utf8')) as { pid: number };
      process.kill(pid, 'SIGKILL');
      await until('the restart is counted', async () => sample(await scrape(metricsPort), 'chatd_embedded_db_restarts_total') === 1, 30_000);
      await until('the database answers again', async () => (await fetch(`${server.baseUrl}/readyz`)).status === 200, 30_000);
    } finally {
      expect(await server.stop()).toBe(0);
    }
  }, 120_000);
});
