// The chatd peers: the real `chatd serve` (hub, services and the embedded database, all pinned to
// the server core), seeded straight into its database, and the persistence path on its own.
import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { MongoClient, ObjectId } from 'mongodb';
import { freePort, gcCommand, inspectorUrl, spawnPinned, stop, waitForPort } from './proc.mjs';

/**
 * Settings the bench gives chatd beyond its defaults. The hub allows 20 events per second per
 * connection by default, a limit for people; the generator publishes from every member of a room
 * in turn, and at the raw uWS rate on 10×100 that is about 13 per member and second, in bursts.
 * Its connections come from a handful of loopback addresses, far over the per-address cap.
 * 10 000 connections joining at once queue their first reads for longer than the default database
 * deadline (5 s): the bench measures steady state, so the deadline is lifted.
 */
export const CHATD_BENCH_ENV = {
  WS_EVENTS_PER_SECOND: '100000',
  WS_USER_EVENTS_PER_SECOND: '100000',
  WS_CONNECTIONS_PER_ADDRESS: '1000000',
  DB_TIMEOUT_MS: '120000',
  LOG_LEVEL: 'warn',
  NODE_ENV: 'production',
};

const b64 = (value) => Buffer.from(JSON.stringify(value)).toString('base64url');

/** An access token as chatd's signer makes them (HS256, typ and audience `access`, issuer chatd). */
export function forgeAccessToken(secret, userId, nowSeconds) {
  const header = b64({ alg: 'HS256', typ: 'JWT' });
  const payload = b64({ typ: 'access', sub: userId, iss: 'chatd', aud: ['chatd:access'], jti: randomUUID(), iat: nowSeconds, exp: nowSeconds + 86400, role: 'user' });
  const signing = `${header}.${payload}`;
  return `${signing}.${createHmac('sha256', secret).update(signing).digest('base64url')}`;
}

async function insertInChunks(collection, docs, size = 2000) {
  for (let i = 0; i < docs.length; i += size) await collection.insertMany(docs.slice(i, i + size), { ordered: false });
}

/**
 * Users, rooms and memberships written straight into chatd's database (registering 10k users
 * through bcrypt would take minutes), with complete documents from chatd's own builder so the
 * authenticator and the membership cache see what registration and joining would have stored.
 * Two-member rooms are direct rooms, as in the 5000×2 workload they stand for.
 */
async function seed(db, plan, secret) {
  const { newUserDocument } = await import(new URL('../../dist/modules/users/document.js', import.meta.url).href);
  const count = plan.rooms * plan.members;
  const now = new Date();
  const users = Array.from({ length: count }, (_, i) => {
    const user = newUserDocument({ _id: new ObjectId(), username: `bench_${i}`, email: `bench_${i}@bench.test`, passwordHash: null, avatar: '' }, now);
    // Tokens carry whole-second iat; a session start in the same second would make them "revoked".
    return { ...user, sessionsValidAfter: new Date(now.getTime() - 60_000) };
  });
  await insertInChunks(db.collection('users'), users);
  const nowSeconds = Math.floor(Date.now() / 1000);
  const conns = users.map((u) => ({ token: forgeAccessToken(secret, u._id.toHexString(), nowSeconds), roomId: '' }));

  const rooms = [];
  const memberships = [];
  for (let r = 0; r < plan.rooms; r++) {
    const _id = new ObjectId();
    const members = users.slice(r * plan.members, (r + 1) * plan.members);
    const direct = plan.members === 2;
    const ids = members.map((m) => m._id.toHexString()).sort();
    rooms.push({
      _id, name: direct ? '' : `bench room ${r}`, type: direct ? 'direct' : 'public', description: '', createdBy: members[0]._id,
      memberCount: members.length, directKey: direct ? ids.join(':') : `room:${_id.toHexString()}`, lastMessageAt: now, createdAt: now, updatedAt: now,
    });
    members.forEach((m, i) => {
      memberships.push({ _id: new ObjectId(), roomId: _id, userId: m._id, role: i === 0 && !direct ? 'owner' : 'member', joinedAt: now, lastReadMessageId: null, lastReadAt: null });
      conns[r * plan.members + i].roomId = _id.toHexString();
    });
  }
  await insertInChunks(db.collection('rooms'), rooms);
  await insertInChunks(db.collection('memberships'), memberships);
  return conns;
}

/**
 * Starts `bin/chatd serve` with its own data directory (the embedded FerretDB starts under it, a
 * child of chatd, so on the same pinned core) and seeds it for `plan`: `{rooms, members}` for a
 * load run, `{conns}` for idle connections. The generator reads tokens and room ids from the
 * setup file and is told the database's pid so its CPU is reported beside the hub's.
 */
async function waitForReady(url, child, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`chatd exited with ${child.exitCode} before it was ready`);
    try {
      const response = await fetch(url);
      if (response.ok) return;
      last = `${response.status} ${await response.text()}`;
    } catch (error) {
      last = error.message;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`chatd was not ready within ${timeoutMs / 1000}s: ${last}`);
}

export async function startChatd({ port, core, plan, inspect, dbProfile, work, root }) {
  const dataDir = path.join(work, `chatd-${port}`);
  rmSync(dataDir, { recursive: true, force: true });
  mkdirSync(dataDir, { recursive: true });
  const secret = randomBytes(32).toString('hex');
  const env = {
    ...CHATD_BENCH_ENV,
    HOST: '127.0.0.1',
    PORT: String(await freePort()),
    WS_PORT: String(port),
    CHATD_DATA_DIR: dataDir,
    JWT_SECRET: secret,
    JWT_REFRESH_SECRET: randomBytes(32).toString('hex'),
    MONGODB_URI: process.env.CHATD_BENCH_MONGODB_URI ?? '',
  };
  if (!env.MONGODB_URI) delete env.MONGODB_URI;
  if (dbProfile) Object.assign(env, { METRICS_PORT: String(await freePort()), METRICS_HOST: '127.0.0.1' });
  // For profiling a run by hand: CHATD_BENCH_NODE_ARGS='--cpu-prof --cpu-prof-dir=/tmp/prof' (flags
  // NODE_OPTIONS refuses), or CHATD_BENCH_NODE_OPTIONS=--perf-basic-prof with `perf record`.
  const nodeOptions = [process.env.CHATD_BENCH_NODE_OPTIONS, inspect ? '--inspect=127.0.0.1:0' : undefined].filter(Boolean).join(' ');
  if (nodeOptions) env.NODE_OPTIONS = nodeOptions;
  const nodeArgs = (process.env.CHATD_BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const serve = () => spawnPinned(core, process.execPath, [...nodeArgs, path.join(root, 'bin', 'chatd'), 'serve'], { cwd: dataDir, env });
  const stateFile = path.join(dataDir, 'db', 'embedded.json');
  const embeddedState = () => (existsSync(stateFile) ? JSON.parse(readFileSync(stateFile, 'utf8')) : undefined);
  const cleanup = () => rmSync(dataDir, { recursive: true, force: true });
  // The first chatd creates and migrates the database, which is then seeded; the measured one is
  // started on the seeded database, as a server restarting with its users (it reads memberships
  // once at start-up, and whatever was seeded behind a running chatd's back it would not know).
  // The REST port is picked free beforehand; another process may take it before chatd binds it
  // (seen once in a full run), so chatd is started again on another one.
  const serveListening = async (withInspector) => {
    for (let attempt = 1; ; attempt += 1) {
      child = serve();
      inspector = withInspector ? inspectorUrl(child, 90_000) : undefined;
      // Awaited only once chatd listens; a chatd that fails to start must not leave it rejected unheard.
      inspector?.catch(() => {});
      try {
        await waitForPort(child, port, 'chatd', 90_000);
        return;
      } catch (error) {
        if (attempt >= 3 || !/PORT \d+ is already in use/.test(error.message)) throw error;
        env.PORT = String(await freePort());
      }
    }
  };
  let child;
  let inspector;
  try {
    await serveListening(false);
    const uri = env.MONGODB_URI ?? `${embeddedState().uri}/chatd?directConnection=true`;
    const client = new MongoClient(uri, { serverSelectionTimeoutMS: 10_000 });
    let conns;
    try {
      await client.connect();
      conns = await seed(client.db(), plan, secret);
    } finally {
      await client.close();
    }
    // chatd's own shutdown (it stops its embedded database) may take a while: let it.
    await stop(child, 60_000);
    await serveListening(inspect);
    // Clients come once chatd is ready (its start-up reads done), so their cost is theirs alone.
    await waitForReady(`http://127.0.0.1:${env.PORT}/readyz`, child, 120_000);
    const state = embeddedState();
    const setupFile = path.join(dataDir, 'setup.json');
    writeFileSync(setupFile, JSON.stringify({ conns }));
    const gc = inspector ? ['-gc-cmd', gcCommand(root, await inspector)] : [];
    const dbCommands = dbProfile ? () => databaseCommands(`http://127.0.0.1:${env.METRICS_PORT}/metrics`) : undefined;
    return { child, loadgenArgs: ['-setup', setupFile, ...(state ? ['-db-pid', String(state.pid)] : []), ...gc], cleanup, dbCommands };
  } catch (error) {
    child?.kill('SIGKILL');
    cleanup();
    throw error;
  }
}

/**
 * Every database command chatd ran since it started (the set-up included), by command name:
 * count and seconds, from its Prometheus endpoint (both connection pools are timed).
 */
async function databaseCommands(url) {
  const text = await (await fetch(url)).text();
  const commands = {};
  for (const [, kind, labels, value] of text.matchAll(/^chatd_db_command_duration_seconds_(count|sum)\{([^}]*)\} (\S+)$/gm)) {
    const name = /command="([^"]*)"/.exec(labels)?.[1] ?? '?';
    commands[name] ??= { count: 0, seconds: 0 };
    commands[name][kind === 'count' ? 'count' : 'seconds'] += Number(value);
  }
  return commands;
}

/** The persistence path alone (bench/peers/chatd-persist.mjs), pinned to the server core with its database. */
export function persistArgs({ work, port, seconds, concurrency, payload }) {
  const dataDir = path.join(work, `chatd-persist-${port}`);
  rmSync(dataDir, { recursive: true, force: true });
  mkdirSync(dataDir, { recursive: true });
  const args = ['--data-dir', dataDir, '--seconds', String(seconds), '--concurrency', String(concurrency), '--payload', String(payload)];
  if (process.env.CHATD_BENCH_MONGODB_URI) args.push('--mongodb-uri', process.env.CHATD_BENCH_MONGODB_URI);
  return { dataDir, args };
}
