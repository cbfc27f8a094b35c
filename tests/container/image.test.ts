import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, copyFileSync, cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { login, register, uniqueAccount, type RegisteredAccount } from '../support/accounts.js';
import { apiClient } from '../support/api.js';
import { HubClient } from '../support/hub-client.js';
import { buildImage, command, commitBeforeNewestMigration, freePort, onPath, podman, publishedPort, repoRoot, requirePodman } from './podman.js';

// The image a user builds from this checkout, run the way the README says: one container, a named
// volume, two published ports. Builds take minutes the first time; later runs reuse podman's
// layer cache (the older commit's image shares the launcher and most dependency layers).

const run = `${Date.now().toString(36)}${randomBytes(2).toString('hex')}`;
const image = `localhost/chatd-test:${run}`;
const olderImage = `localhost/chatd-test:${run}-older`;
const containers: string[] = [];
const volumes: string[] = [];
const minutes = (n: number) => n * 60_000;

interface Running {
  name: string;
  http: string;
  ws: string;
}

async function ready(name: string, timeoutMs = 90_000): Promise<Running> {
  const http = `http://127.0.0.1:${await publishedPort(name, 3000)}`;
  const ws = `ws://127.0.0.1:${await publishedPort(name, 3001)}/ws`;
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const status = await fetch(`${http}/readyz`).then((response) => response.status, () => 0);
    if (status === 200) return { name, http, ws };
    const state = await podman(['inspect', name, '--format', '{{.State.Status}}']);
    if (state === 'exited') break;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  const logs = await command('podman', ['logs', '--tail', '40', name]);
  throw new Error(`container ${name} did not become ready within ${timeoutMs} ms:\n${logs.stdout}${logs.stderr}`);
}

async function start(imageName: string, volume: string, env: Record<string, string> = {}): Promise<Running> {
  const name = `chatd-test-${run}-${containers.length}`;
  containers.push(name);
  if (!volumes.includes(volume)) volumes.push(volume);
  const envArgs = Object.entries(env).flatMap(([key, value]) => ['-e', `${key}=${value}`]);
  await podman(['run', '-d', '--name', name, '-v', `${volume}:/data`, '-p', '127.0.0.1::3000', '-p', '127.0.0.1::3001', ...envArgs, imageName]);
  return ready(name);
}

async function stop(name: string): Promise<number> {
  await podman(['stop', '-t', '30', name], 60_000);
  return Number(await podman(['inspect', name, '--format', '{{.State.ExitCode}}']));
}

async function exec(name: string, args: string[]): Promise<string> {
  return podman(['exec', name, ...args], 120_000);
}

async function postMessage(http: string, token: string, roomId: string, content: string): Promise<void> {
  const response = await apiClient(http).post('/api/messages', { roomId, content }, { token });
  expect(response.status, JSON.stringify(response.body)).toBe(201);
}

async function history(http: string, token: string, roomId: string): Promise<string[]> {
  const response = await apiClient(http).get(`/api/messages?roomId=${roomId}`, { token });
  expect(response.status, JSON.stringify(response.body)).toBe(200);
  return response.body.messages.map((message: { content: string }) => message.content);
}

async function createRoom(http: string, token: string): Promise<string> {
  const response = await apiClient(http).post('/api/rooms', { name: `room-${randomBytes(3).toString('hex')}`, type: 'public' }, { token });
  expect(response.status, JSON.stringify(response.body)).toBe(201);
  return response.body.room._id;
}

/**
 * Gives the older tree's files and directories the working tree's permission bits: podman's layer
 * cache keys a COPY on the files' modes as well as their bytes, and `git archive` writes its own
 * (0664 under git's default tar.umask). Unchanged files then hit the cache, so the launcher and
 * dependency layers are reused instead of rebuilt.
 */
function sameModesAsWorkingTree(dir: string, relative = ''): void {
  for (const entry of readdirSync(join(dir, relative), { withFileTypes: true })) {
    const path = join(relative, entry.name);
    const current = join(repoRoot, path);
    if (!existsSync(current)) continue;
    if (entry.isDirectory()) sameModesAsWorkingTree(dir, path);
    if (entry.isDirectory() || entry.isFile()) chmodSync(join(dir, path), statSync(current).mode & 0o7777);
  }
}

beforeAll(async () => {
  requirePodman();
  await buildImage(repoRoot, image);
}, minutes(25));

afterAll(async () => {
  for (const name of containers) await command('podman', ['rm', '-f', '-t', '5', name]);
  for (const volume of volumes) await command('podman', ['volume', 'rm', '-f', volume]);
  await command('podman', ['rmi', '-f', image, olderImage]);
}, minutes(2));

describe('the chatd image', () => {
  const volume = `chatd-test-${run}-data`;
  let running: Running;
  let account: RegisteredAccount;
  let roomId: string;

  it('with only a volume and two published ports is a complete chatd: ready, healthy, messages through the hub and REST', async () => {
    running = await start(image, volume);
    expect((await command('podman', ['healthcheck', 'run', running.name])).code).toBe(0);
    // The web app is part of the image, served at / from the REST port.
    const page = await fetch(`${running.http}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);

    const api = apiClient(running.http);
    account = await register(api, uniqueAccount('box'));
    const { accessToken } = await login(api, account.email, account.password);
    roomId = await createRoom(running.http, accessToken);

    const hub = await HubClient.authenticated(running.ws, accessToken);
    try {
      expect((await hub.request('join_room', { roomId })).event).toBe('message_history');
      const sent = await hub.request('send_message', { roomId, content: 'hello from the container' });
      expect(sent.event).toBe('message_sent');
    } finally {
      await hub.close();
    }
    expect(await history(running.http, accessToken, roomId)).toContain('hello from the container');
  }, minutes(3));

  it('runs every process as the unprivileged user, database included', async () => {
    const status = await exec(running.name, ['sh', '-c', 'for f in /proc/[0-9]*/status; do grep -E "^(Name|Uid):" "$f" | tr "\\n" " "; echo; done']);
    const processes = status.split('\n').filter((line) => line.includes('Uid:'));
    expect(processes.map((line) => /Name:\s+(\S+)/.exec(line)?.[1])).toEqual(expect.arrayContaining(['node', 'chatd-ferretdb']));
    for (const line of processes) expect(line, line).toMatch(/Uid:\s+10001\s+10001\s+10001\s+10001/);
  }, minutes(1));

  it('`chatd backup` inside the container writes the archive into the volume', async () => {
    const output = await exec(running.name, ['chatd', 'backup']);
    const archive = /wrote (\/data\/backups\/\S+\.tar\.gz)/.exec(output)?.[1];
    expect(archive, output).toBeDefined();
    await exec(running.name, ['chatd', 'backup', '--verify', archive!]);
    // Read back from the volume by a fresh container: the archive outlives this one.
    const listing = await podman(['run', '--rm', '--entrypoint', 'ls', '-v', `${volume}:/data`, image, '/data/backups']);
    expect(listing.split('\n')).toContain(archive!.split('/').at(-1));
  }, minutes(2));

  it('stops on SIGTERM with exit code 0 and starts again with its data', async () => {
    expect(await stop(running.name)).toBe(0);
    await podman(['start', running.name]);
    running = await ready(running.name);
    const { accessToken } = await login(apiClient(running.http), account.email, account.password);
    expect(await history(running.http, accessToken, roomId)).toContain('hello from the container');
    expect(await stop(running.name)).toBe(0);
  }, minutes(3));

  it('serves a volume written by the image of an older commit, after applying the newer migrations', async () => {
    const { commit, migration } = commitBeforeNewestMigration();
    const source = mkdtempSync(join(tmpdir(), 'chatd-older-'));
    try {
      execFileSync('sh', ['-c', `git archive --format=tar ${commit} | tar -x -C "${source}"`], { cwd: repoRoot });
      sameModesAsWorkingTree(source);
      // The older code, packaged as images are packaged now (an older Dockerfile may predate the
      // embedded database in the image); only the application differs.
      let dockerfile = readFileSync(join(repoRoot, 'Dockerfile'), 'utf8');
      // A commit from before the web app has nothing to build or ship for it.
      if (!existsSync(join(source, 'web'))) {
        dockerfile = dockerfile.replace(/^COPY web .*\n/m, '').replace(' && npm run build:web', '').replace(/^COPY --from=build \/app\/web\/dist .*\n/m, '');
      }
      writeFileSync(join(source, 'Dockerfile'), dockerfile);
      copyFileSync(join(repoRoot, '.dockerignore'), join(source, '.dockerignore'));
      cpSync(join(repoRoot, 'docker'), join(source, 'docker'), { recursive: true });
      await buildImage(source, olderImage);
    } finally {
      rmSync(source, { recursive: true, force: true });
    }

    const upgraded = `chatd-test-${run}-upgrade`;
    const older = await start(olderImage, upgraded, { PUBLIC_URL: 'http://old-name.test:3000' });
    const api = apiClient(older.http);
    const before = await register(api, uniqueAccount('old'));
    const oldRoom = await createRoom(older.http, before.accessToken);
    await postMessage(older.http, before.accessToken, oldRoom, 'written by the older image');
    // The older chatd has never heard of the newest migration: it has applied all it knows.
    const olderStatus = await exec(older.name, ['chatd', 'migrate', 'status']);
    expect(olderStatus).not.toContain(migration);
    expect(olderStatus).toMatch(/^all \d+ migrations of this chatd applied$/m);
    expect(await stop(older.name)).toBe(0);

    const newer = await start(image, upgraded, { PUBLIC_URL: 'http://new-name.test:3000' });
    const newerStatus = await exec(newer.name, ['chatd', 'migrate', 'status']);
    expect(newerStatus).toMatch(new RegExp(`^${migration}\\s+applied`, 'm'));
    expect(newerStatus).not.toMatch(/pending/);
    const { accessToken } = await login(apiClient(newer.http), before.email, before.password);
    expect(await history(newer.http, accessToken, oldRoom)).toEqual(['written by the older image']);
    const me = await apiClient(newer.http).get('/api/auth/me', { token: accessToken });
    // The default avatar is a path on the API's origin whatever PUBLIC_URL the volume was written
    // under (an image from before migration 0003 stored it absolute; 0003 rewrites it).
    expect(me.body.user.avatar).toBe(`/api/users/${before.id}/avatar`);
    expect(await stop(newer.name)).toBe(0);
  }, minutes(30));
});

describe('docker-compose.yml', () => {
  it('comes up with podman-compose as the single chatd service, reading .env, and answers', async () => {
    const compose = onPath('podman-compose');
    if (!compose) throw new Error('the compose test needs podman-compose (Debian: `apt-get install podman-compose`)');
    const dir = mkdtempSync(join(tmpdir(), `chatd-compose-${run}-`));
    const project = `chatdcompose${run}`;
    const [port, wsPort] = [await freePort(), await freePort()];
    // The repository's compose file as it is, but naming the image this run built (compose builds
    // only a missing image), so it runs the working tree's code.
    writeFileSync(join(dir, 'docker-compose.yml'), readFileSync(join(repoRoot, 'docker-compose.yml'), 'utf8').replace(/^(\s+image:\s*)\S+$/m, `$1${image}`));
    writeFileSync(join(dir, '.env'), `PORT=${port}\nWS_PORT=${wsPort}\nPUBLIC_URL=http://localhost:${port}\nLOG_LEVEL=warn\n`);
    const composeCommand = (args: string[]) => command(compose, ['-p', project, ...args], { cwd: dir, timeoutMs: minutes(3) });
    try {
      const up = await composeCommand(['up', '-d']);
      expect(up.code, up.stderr).toBe(0);
      const http = `http://127.0.0.1:${port}`;
      const deadline = Date.now() + 90_000;
      let status = 0;
      while (Date.now() < deadline && status !== 200) {
        status = await fetch(`${http}/readyz`).then((response) => response.status, () => 0);
        if (status !== 200) await new Promise((resolve) => setTimeout(resolve, 250));
      }
      expect(status).toBe(200);
      const account = await register(apiClient(http), uniqueAccount('compose'));
      // The LOG_LEVEL from .env reached chatd: its request log lines (info) are gone.
      const container = (await podman(['ps', '--filter', `label=io.podman.compose.project=${project}`, '--format', '{{.Names}}'])).split('\n')[0]!;
      const env = await exec(container, ['printenv', 'LOG_LEVEL']);
      expect(env).toBe('warn');
      expect(account.id).toMatch(/^[0-9a-f]{24}$/);
      expect((await command('podman', ['healthcheck', 'run', container])).code).toBe(0);
    } finally {
      await composeCommand(['down', '-v']);
      rmSync(dir, { recursive: true, force: true });
    }
  }, minutes(5));
});
