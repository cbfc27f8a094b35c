#!/usr/bin/env node
// Measures message history, join_room, the room list with unread counts and send throughput on
// the embedded database (FerretDB) holding many messages. Not a test: the numbers depend on the
// machine. Usage, after `npm run setup`:
//   node scripts/measure-history.mjs [--messages 100000] [--rooms 100] [--repeat 10] [--lists 20,100]
//                                    [--skip-restart] [--skip-reads] [--crash] [--json FILE] [--keep]
// --crash ends with a SIGKILL of chatd serve and times the start after it.
// A request that takes more than 300 s (fetch's limit) is reported as such and the rest goes on.
// CHATD_BIN=/other/checkout/bin/chatd and CHATD_FERRETDB_BIN=/other/checkout/tools/ferretdb/bin/
// chatd-ferretdb measure another build (the launcher of this checkout is the default).
//
// It seeds a database with chatd stopped (users, rooms, memberships and messages spread over a
// year, some edited, reacted to, read and deleted), runs `chatd migrate`, starts `chatd serve`,
// measures, stops it, starts it again (a clean restart) and measures the cold paths once more.
import { spawn } from 'node:child_process';
import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { MongoClient, ObjectId } from 'mongodb';
import WebSocket from 'ws';

const { values: args } = parseArgs({
  options: {
    messages: { type: 'string', default: '100000' },
    rooms: { type: 'string', default: '100' },
    repeat: { type: 'string', default: '10' },
    lists: { type: 'string', default: '20,100' },
    json: { type: 'string' },
    keep: { type: 'boolean', default: false },
    'skip-restart': { type: 'boolean', default: false },
    'skip-reads': { type: 'boolean', default: false },
    crash: { type: 'boolean', default: false },
  },
});
const MESSAGES = Number(args.messages);
const ROOMS = Number(args.rooms);
const REPEAT = Number(args.repeat);
const USERS = 20;
const bin = process.env.CHATD_BIN ?? fileURLToPath(new URL('../bin/chatd', import.meta.url));
const launcher = process.env.CHATD_FERRETDB_BIN ?? fileURLToPath(new URL('../tools/ferretdb/bin/chatd-ferretdb', import.meta.url));
const secret = randomBytes(32).toString('hex');
const dataDir = mkdtempSync(join(tmpdir(), 'chatd-history-'));
const log = (...parts) => console.error(`[${new Date().toISOString().slice(11, 19)}]`, ...parts);

const b64 = (value) => Buffer.from(JSON.stringify(value)).toString('base64url');
function token(userId) {
  const now = Math.floor(Date.now() / 1000);
  const input = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ typ: 'access', sub: userId, iss: 'chatd', aud: ['chatd:access'], jti: randomUUID(), iat: now, exp: now + 3600, role: 'user' })}`;
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
}

const freePort = () =>
  new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });

function env(extra = {}) {
  return {
    PATH: process.env.PATH,
    NODE_ENV: 'production',
    LOG_LEVEL: 'info',
    HOST: '127.0.0.1',
    CHATD_DATA_DIR: dataDir,
    CHATD_FERRETDB_BIN: launcher,
    JWT_SECRET: secret,
    JWT_REFRESH_SECRET: randomBytes(32).toString('hex'),
    WS_EVENTS_PER_SECOND: '100000',
    WS_USER_EVENTS_PER_SECOND: '100000',
    ...extra,
  };
}

function run(args) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], { cwd: dataDir, env: env(), stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    child.on('exit', (code) => (code === 0 ? resolve(output) : reject(new Error(`chatd ${args.join(' ')} exited with ${code}: ${output}`))));
  });
}

/** Starts `chatd serve`; resolves once a first history page was answered (`probe`), with the time that took. */
async function serve(probe) {
  const [port, wsPort] = [await freePort(), await freePort()];
  const started = Date.now();
  const child = spawn(process.execPath, [bin, 'serve'], { cwd: dataDir, env: env({ PORT: String(port), WS_PORT: String(wsPort) }), stdio: ['ignore', 'pipe', 'pipe'] });
  const lines = [];
  createInterface({ input: child.stdout }).on('line', (line) => lines.push(line));
  createInterface({ input: child.stderr }).on('line', (line) => lines.push(line));
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const base = `http://127.0.0.1:${port}`;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`chatd serve exited: ${lines.join('\n')}`);
    try {
      if ((await fetch(`${base}/readyz`)).ok) break;
    } catch {
      // not up yet
    }
    await sleep(50);
  }
  await get(base, `/api/messages?roomId=${probe.room}&limit=1`, probe.user);
  return {
    base,
    ws: `ws://127.0.0.1:${wsPort}/ws`,
    lines,
    startMs: Date.now() - started,
    async kill() {
      child.kill('SIGKILL');
      await exited;
    },
    async stop() {
      if (child.exitCode !== null) return 0;
      const stopping = Date.now();
      child.kill('SIGTERM');
      await exited;
      return Date.now() - stopping;
    },
  };
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function seed() {
  const dbDir = join(dataDir, 'db');
  const child = spawn(launcher, ['-listen', '127.0.0.1:0', '-data-dir', dbDir, '-exit-on-stdin-eof'], { stdio: ['pipe', 'pipe', 'inherit'] });
  const uri = await new Promise((resolve) => createInterface({ input: child.stdout }).once('line', (line) => resolve(JSON.parse(line).uri.replace(/\/$/, ''))));
  const client = new MongoClient(`${uri}/chatd?directConnection=true`);
  await client.connect();
  const db = client.db('chatd');
  const now = Date.now();
  const users = Array.from({ length: USERS }, (_, i) => ({
    _id: new ObjectId(), username: `user${i}`, usernameLower: `user${i}`, email: `user${i}@example.test`, passwordHash: null, avatar: '', bio: '', location: '', website: '',
    settings: { theme: 'light', notifications: true, encryption: false }, status: 'offline', customStatus: '', lastSeen: new Date(now), blockedUsers: [], isPremium: false,
    oauthProvider: null, role: 'user', disabled: false, sessionsValidAfter: new Date(now - 3_600_000), createdAt: new Date(now), updatedAt: new Date(now),
  }));
  await db.collection('users').insertMany(users);
  const rooms = Array.from({ length: ROOMS }, (_, i) => {
    const _id = new ObjectId();
    return { _id, name: `room ${i}`, type: 'private', description: '', createdBy: users[0]._id, memberCount: USERS, directKey: `room:${_id.toHexString()}`, lastMessageAt: new Date(now - i * 1000), createdAt: new Date(now - 365 * 86_400_000), updatedAt: new Date(now) };
  });
  await db.collection('rooms').insertMany(rooms);
  // Ids spread over the last year, ascending, as chatd makes them (the second, then a counter).
  const span = 365 * 86_400;
  const start = Math.floor(now / 1000) - span - 3600;
  const prefix = randomBytes(5);
  const idAt = (i) => {
    const bytes = Buffer.alloc(12);
    bytes.writeUInt32BE(start + Math.floor((i * span) / MESSAGES), 0);
    prefix.copy(bytes, 4);
    bytes.writeUIntBE(i & 0xffffff, 9, 3);
    return new ObjectId(bytes);
  };
  const perRoom = rooms.map(() => []);
  let batch = [];
  for (let i = 0; i < MESSAGES; i++) {
    const _id = idAt(i);
    const room = i % ROOMS;
    const sender = users[(i * 7 + room) % USERS]._id;
    const createdAt = _id.getTimestamp();
    const doc = {
      _id, roomId: rooms[room]._id, senderId: sender, content: `message ${i}: ${'lorem ipsum dolor sit amet '.repeat(1 + (i % 4))}`, messageType: 'text', encrypted: false,
      readBy: [], reactions: [], editHistory: [], isDeleted: false, clientMsgId: _id.toHexString(), createdAt, updatedAt: createdAt,
    };
    const later = new Date(createdAt.getTime() + 60_000);
    if (i % 10 === 0) {
      doc.readBy = users.slice(0, 3).filter((u) => !u._id.equals(sender)).map((u) => ({ userId: u._id, readAt: later }));
      doc.updatedAt = later;
    }
    if (i % 25 === 0) {
      doc.reactions = [{ emoji: '👍', userId: users[1]._id, createdAt: later }];
      doc.updatedAt = later;
    }
    if (i % 50 === 0) {
      doc.editHistory = [{ content: 'first version', editedAt: later }];
      doc.editedAt = later;
      doc.updatedAt = later;
    }
    if (i % 200 === 0) Object.assign(doc, { isDeleted: true, deletedAt: later, updatedAt: later });
    perRoom[room].push(_id);
    batch.push(doc);
    if (batch.length === 2000) {
      await db.collection('messages').insertMany(batch);
      batch = [];
      if (i % 20000 === 19999) log(`seeded ${i + 1} messages`);
    }
  }
  if (batch.length) await db.collection('messages').insertMany(batch);
  // Every user is in every room; user 0 ("me") has read all but the last 30 of each room.
  const memberships = [];
  for (const [r, room] of rooms.entries()) {
    for (const [u, user] of users.entries()) {
      const marker = u === 0 ? (perRoom[r].at(-31) ?? null) : (perRoom[r].at(-1) ?? null);
      memberships.push({ _id: new ObjectId(), roomId: room._id, userId: user._id, role: u === 0 ? 'owner' : 'member', joinedAt: new Date(now - 365 * 86_400_000), lastReadMessageId: marker, lastReadAt: marker ? new Date(now) : null });
    }
  }
  await db.collection('memberships').insertMany(memberships);
  await client.close();
  child.stdin.end();
  await new Promise((resolve) => child.once('exit', resolve));
  return { users: users.map((u) => u._id.toHexString()), rooms: rooms.map((r) => r._id.toHexString()), perRoom: perRoom.map((ids) => ids.map((id) => id.toHexString())) };
}

const stats = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  return { n: sorted.length, median: at(0.5), p90: at(0.9), min: sorted[0], max: sorted.at(-1) };
};

async function timed(fn) {
  const started = process.hrtime.bigint();
  const result = await fn();
  return { ms: Number(process.hrtime.bigint() - started) / 1e6, result };
}

async function get(base, path, userId) {
  const response = await fetch(base + path, { headers: { Authorization: `Bearer ${token(userId)}` } });
  const body = await response.json();
  if (!response.ok) throw new Error(`${path}: ${response.status} ${JSON.stringify(body)}`);
  return body;
}

class Hub {
  static open(url, userId) {
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(url, { headers: { Authorization: `Bearer ${token(userId)}` } });
      socket.once('open', () => resolve(new Hub(socket)));
      socket.once('error', reject);
    });
  }

  constructor(socket) {
    this.socket = socket;
    this.waiting = new Map();
    this.counter = 0;
    socket.on('message', (raw) => {
      const frame = JSON.parse(String(raw));
      const waiter = frame.id && this.waiting.get(frame.id);
      if (waiter) {
        this.waiting.delete(frame.id);
        waiter(frame);
      }
    });
  }

  request(event, data) {
    const id = `m${++this.counter}`;
    return new Promise((resolve) => {
      this.waiting.set(id, resolve);
      this.socket.send(JSON.stringify({ event, data, id }));
    });
  }

  close() {
    this.socket.close();
  }
}

async function measureReads(server, fixture, label) {
  const me = fixture.users[0];
  const results = {};
  const rooms = fixture.rooms.slice(0, REPEAT);
  const sample = async (name, each) => {
    const times = [];
    for (const [i, room] of rooms.entries()) times.push((await timed(() => each(room, i))).ms);
    results[name] = stats(times);
    log(`${label} ${name}: median ${results[name].median.toFixed(1)} ms (p90 ${results[name].p90.toFixed(1)}, n=${times.length})`);
  };
  // A different room each time, so each first read is a cold one.
  await sample('history page 1 (limit 50)', async (room) => {
    const body = await get(server.base, `/api/messages?roomId=${room}&limit=50`, me);
    if (body.messages.length !== 50) throw new Error(`page 1 of ${room} had ${body.messages.length} messages`);
  });
  await sample('history page 1 again (limit 50)', (room) => get(server.base, `/api/messages?roomId=${room}&limit=50`, me));
  await sample('history page 10 (limit 50)', (room) => get(server.base, `/api/messages?roomId=${room}&limit=50&page=10`, me));
  await sample('history before a message 300 back (limit 50)', (room, i) => get(server.base, `/api/messages?roomId=${room}&limit=50&before=${fixture.perRoom[i].at(-Math.min(300, fixture.perRoom[i].length))}`, me));
  const hub = await Hub.open(server.ws, me);
  const joinRooms = fixture.rooms.slice(REPEAT, 2 * REPEAT);
  const joins = [];
  for (const room of joinRooms) joins.push((await timed(() => hub.request('join_room', { roomId: room }))).ms);
  results['join_room (latest 50)'] = stats(joins);
  log(`${label} join_room: median ${results['join_room (latest 50)'].median.toFixed(1)} ms`);
  const resumes = [];
  for (const [i, room] of joinRooms.entries()) {
    const since = fixture.perRoom[REPEAT + i].at(-40);
    const { ms, result } = await timed(() => hub.request('join_room', { roomId: room, since }));
    if (result.event !== 'message_history' || result.data.messages.length !== 39) throw new Error(`resume answered ${JSON.stringify(result).slice(0, 300)}`);
    resumes.push(ms);
  }
  results['join_room since (39 newer)'] = stats(resumes);
  log(`${label} join_room since: median ${results['join_room since (39 newer)'].median.toFixed(1)} ms`);
  // Changes to messages that were stored long ago (late in the collection: the costly case before).
  const reactions = [];
  const receipts = [];
  for (const [i, room] of joinRooms.entries()) {
    const messageId = fixture.perRoom[REPEAT + i].at(-(5 + (label.length % 7)));
    let reply;
    reactions.push((await timed(async () => (reply = await hub.request('add_reaction', { messageId, emoji: '🎉' })))).ms);
    if (reply.event !== 'reaction_added') throw new Error(JSON.stringify(reply));
    receipts.push((await timed(async () => (reply = await hub.request('mark_message_read', messageId)))).ms);
    if (reply.event !== 'message_read') throw new Error(JSON.stringify(reply));
  }
  results['add_reaction'] = stats(reactions);
  results['mark_message_read'] = stats(receipts);
  log(`${label} add_reaction: median ${results.add_reaction.median.toFixed(1)} ms, mark_message_read: median ${results.mark_message_read.median.toFixed(1)} ms`);
  hub.close();
  for (const limit of args.lists.split(',').filter(Boolean).map(Number)) {
    const name = `room list, ${limit} rooms with unread counts`;
    const lists = [];
    try {
      for (let i = 0; i < Math.min(3, REPEAT); i++) {
        const { ms, result } = await timed(() => get(server.base, `/api/rooms?limit=${limit}`, me));
        if (result.rooms.length !== Math.min(limit, ROOMS)) throw new Error(`room list had ${result.rooms.length} rooms`);
        lists.push(ms);
      }
      results[name] = stats(lists);
      log(`${label} room list ${limit}: median ${results[name].median.toFixed(1)} ms`);
    } catch (error) {
      results[name] = { error: String(error.cause?.code ?? error.message), completed: lists };
      log(`${label} room list ${limit}: ${results[name].error}`);
    }
  }
  return results;
}

async function measureSends(server, fixture) {
  const results = {};
  const single = await Hub.open(server.ws, fixture.users[1]);
  const latencies = [];
  for (let i = 0; i < 100; i++) {
    const { ms, result } = await timed(() => single.request('send_message', { roomId: fixture.rooms[0], content: `latency ${i}` }));
    if (result.event !== 'message_sent') throw new Error(JSON.stringify(result));
    latencies.push(ms);
  }
  single.close();
  results['send, one at a time (ack latency)'] = stats(latencies);
  log(`send latency median ${results['send, one at a time (ack latency)'].median.toFixed(1)} ms`);
  // 100 connections (5 per user), each with 4 sends in flight, over 50 rooms.
  const hubs = await Promise.all(Array.from({ length: 100 }, (_, i) => Hub.open(server.ws, fixture.users[i % USERS])));
  const perConnection = 150;
  const { ms } = await timed(() =>
    Promise.all(
      hubs.map(async (hub, c) => {
        const lanes = Array.from({ length: 4 }, async (_, lane) => {
          for (let i = lane; i < perConnection; i += 4) {
            const reply = await hub.request('send_message', { roomId: fixture.rooms[c % Math.min(50, ROOMS)], content: `load ${c}.${i}` });
            if (reply.event !== 'message_sent') throw new Error(JSON.stringify(reply));
          }
        });
        await Promise.all(lanes);
      }),
    ),
  );
  for (const hub of hubs) hub.close();
  results['send throughput (messages/s, 100 connections)'] = { value: Math.round((hubs.length * perConnection) / (ms / 1000)) };
  log(`send throughput ${results['send throughput (messages/s, 100 connections)'].value} messages/s`);
  return results;
}

const report = { messages: MESSAGES, rooms: ROOMS, bin, load: loadavg().map((v) => v.toFixed(2)), steps: {} };
let server;
for (const signal of ['SIGINT', 'SIGTERM', 'SIGPIPE']) {
  process.once(signal, () => {
    void (server?.stop() ?? Promise.resolve()).finally(() => {
      if (!args.keep) rmSync(dataDir, { recursive: true, force: true });
      process.exit(1);
    });
  });
}
try {
  log(`seeding ${MESSAGES} messages in ${ROOMS} rooms in ${dataDir}`);
  const fixture = await seed();
  const migrated = await timed(() => run(['migrate']));
  report.steps['chatd migrate (ms)'] = Math.round(migrated.ms);
  log(`migrate: ${Math.round(migrated.ms)} ms: ${migrated.result.trim().split('\n').at(-1)}`);
  const probe = { room: fixture.rooms.at(-1), user: fixture.users[0] };
  server = await serve(probe);
  report.steps['first start until a history page is answered (ms)'] = server.startMs;
  if (!args['skip-reads']) report.firstRun = await measureReads(server, fixture, 'first run');
  if (!args['skip-restart']) {
    report.steps['stop (ms)'] = await server.stop();
    server = await serve(probe);
    report.steps['clean restart until a history page is answered (ms)'] = server.startMs;
    report.afterRestart = await measureReads(server, fixture, 'after restart');
  }
  report.sends = await measureSends(server, fixture);
  if (args.crash) {
    await server.kill();
    server = await serve(probe);
    report.steps['start after a crash until a history page is answered (ms)'] = server.startMs;
    log(`start after a crash: ${server.startMs} ms`);
  }
  report.loadAfter = loadavg().map((v) => v.toFixed(2));
} finally {
  await server?.stop();
  if (!args.keep) rmSync(dataDir, { recursive: true, force: true });
}
const text = JSON.stringify(report, null, 2);
console.log(text);
if (args.json) writeFileSync(args.json, `${text}\n`);
