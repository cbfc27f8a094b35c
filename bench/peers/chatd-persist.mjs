// chatd's persistence path alone: the group-commit writer that `send_message` waits on
// (src/modules/messages/writer.ts, built into dist/) against a per-message `insertOne` baseline,
// on the same database, with the same documents and the same write concern. No WebSocket: the
// time measured is what a sender waits for `message_sent` beyond the hub's own work.
//
// `node bench/peers/chatd-persist.mjs --data-dir DIR [--mongodb-uri URI] --seconds S --concurrency C`
// prints one JSON document on stdout. For the embedded database it starts FerretDB under DIR like
// `chatd serve` does (pinned with this process when the runner pins it).
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ObjectId } from 'mongodb';
import pino from 'pino';

const dist = (p) => new URL(`../../dist/${p}`, import.meta.url).href;
const { openDatabase } = await import(dist('db/database.js'));
const { migrate } = await import(dist('db/migrate.js'));
const { MessagesRepo } = await import(dist('modules/messages/repo.js'));
const { MessageWriter } = await import(dist('modules/messages/writer.js'));
const { MonotonicIds } = await import(dist('modules/messages/ids.js'));
const { presentMessage } = await import(dist('modules/messages/presenter.js'));

const { values: opts } = parseArgs({
  options: {
    'data-dir': { type: 'string' },
    'mongodb-uri': { type: 'string' },
    seconds: { type: 'string', default: '3' },
    warmup: { type: 'string', default: '0.5' },
    concurrency: { type: 'string', default: '512' },
    'latency-rate': { type: 'string' },
    payload: { type: 'string', default: '100' },
    'batch-max': { type: 'string', default: '256' },
    'flush-ms': { type: 'string', default: '2' },
    senders: { type: 'string', default: '1000' },
    only: { type: 'string' },
  },
});
const seconds = Number(opts.seconds);
const warmup = Number(opts.warmup);
const concurrency = Number(opts.concurrency);
const senders = Number(opts.senders);
const content = 'x'.repeat(Number(opts.payload));

const logger = pino({ level: 'warn', base: { service: 'chatd-persist' } }, pino.destination(2));
const config = { MONGODB_URI: opts['mongodb-uri'], CHATD_DATA_DIR: opts['data-dir'], CHATD_FERRETDB_BIN: undefined, CHATD_FERRETDB_PPROF: process.env.CHATD_FERRETDB_PPROF };
const database = await openDatabase(config, logger, { supervise: false });
await migrate(database.db, { logger });
const repo = new MessagesRepo(database.db);
const collection = database.db.collection('messages');
const dbPid = database.embedded?.pid;

const CLOCK_TICKS = 100;
function cpuSeconds(pid) {
  if (!pid) return 0;
  const raw = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = raw.slice(raw.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}
const cpu = () => ({ self: cpuSeconds(process.pid), db: cpuSeconds(dbPid) });

// Documents as MessagesService.send builds them: one room per 2 senders, a clientMsgId per message.
const ids = new MonotonicIds();
const rooms = Array.from({ length: Math.ceil(senders / 2) }, () => new ObjectId());
const users = Array.from({ length: senders }, () => new ObjectId());
const run = randomBytes(3).toString('hex');
let seq = 0;
function nextDoc(sender) {
  const _id = ids.next();
  const now = new Date();
  seq += 1;
  return {
    _id, roomId: rooms[sender >> 1], senderId: users[sender], content, messageType: 'text', encrypted: false,
    readBy: [], reactions: [], editHistory: [], isDeleted: false, clientMsgId: `${run}-${seq}`, createdAt: now, updatedAt: now,
  };
}

// The baseline: what a server without group commit does, one journaled insert per message.
const insertOne = (doc) => collection.insertOne(doc, { writeConcern: { w: 'majority', j: true } });

function newWriter() {
  return new MessageWriter({
    repo, logger, batchMax: Number(opts['batch-max']), flushMs: Number(opts['flush-ms']), queueMax: 1_000_000,
    // What the service does before acknowledging: present and serialise the message once.
    onStored: (doc) => JSON.stringify(presentMessage(doc)),
  });
}

/** Latencies in µs; percentiles by sorting once at the end (a few hundred thousand values at most). */
function histogram() {
  let values = new Float64Array(1 << 16);
  let n = 0;
  let sorted;
  return {
    recordValue(v) {
      if (n === values.length) {
        const bigger = new Float64Array(n * 2);
        bigger.set(values);
        values = bigger;
      }
      values[n++] = v;
      sorted = undefined;
    },
    getValueAtPercentile(p) {
      if (n === 0) return 0;
      sorted ??= values.slice(0, n).sort();
      return sorted[Math.min(n - 1, Math.ceil((p / 100) * n) - 1)];
    },
    get maxValue() {
      return this.getValueAtPercentile(100);
    },
  };
}

function summary(h, acked, elapsed, before, after) {
  return {
    ackedPerSecond: acked / elapsed,
    p50us: h.getValueAtPercentile(50),
    p99us: h.getValueAtPercentile(99),
    p999us: h.getValueAtPercentile(99.9),
    maxus: h.maxValue,
    selfCpuPct: (100 * (after.self - before.self)) / elapsed,
    dbCpuPct: (100 * (after.db - before.db)) / elapsed,
    cpuUsPerMessage: acked ? (1e6 * (after.self - before.self + after.db - before.db)) / acked : null,
  };
}

/** Closed loop: `concurrency` senders each send their next message as soon as the last one is acknowledged. */
async function saturate(store) {
  const h = histogram();
  let measuring = false;
  let acked = 0;
  let stop = false;
  let before;
  const worker = async (w) => {
    while (!stop) {
      const doc = nextDoc(w % senders);
      const t0 = process.hrtime.bigint();
      await store(doc, w);
      if (measuring && !stop) {
        h.recordValue(Math.max(1, Number((process.hrtime.bigint() - t0) / 1000n)));
        acked += 1;
      }
    }
  };
  const workers = Array.from({ length: concurrency }, (_, w) => worker(w));
  await sleep(warmup * 1000);
  measuring = true;
  before = cpu();
  const t0 = performance.now();
  await sleep(seconds * 1000);
  stop = true;
  const elapsed = (performance.now() - t0) / 1000;
  const after = cpu();
  await Promise.all(workers);
  return summary(h, acked, elapsed, before, after);
}

/**
 * Open loop at a fixed rate: latency without self-inflicted queueing. Every 50th acknowledged
 * message is read back at once on the same client: acknowledged must mean stored.
 */
async function atRate(store, rate) {
  const h = histogram();
  let acked = 0;
  let failed = 0;
  let checked = 0;
  let missing = 0;
  const pending = new Set();
  const send = (i) => {
    const doc = nextDoc(i % senders);
    const t0 = process.hrtime.bigint();
    const p = store(doc, i).then(
      async () => {
        h.recordValue(Math.max(1, Number((process.hrtime.bigint() - t0) / 1000n)));
        acked += 1;
        if (acked % 50 === 0) {
          checked += 1;
          if (!(await collection.findOne({ _id: doc._id }, { projection: { _id: 1 } }))) missing += 1;
        }
      },
      () => (failed += 1),
    );
    pending.add(p);
    void p.finally(() => pending.delete(p));
  };
  const start = performance.now();
  const before = cpu();
  let sent = 0;
  while (performance.now() - start < seconds * 1000) {
    const due = Math.floor(((performance.now() - start) / 1000) * rate);
    for (; sent < due; sent += 1) send(sent);
    await sleep(1);
  }
  const elapsed = (performance.now() - start) / 1000;
  const after = cpu();
  await Promise.all(pending);
  return { offeredRate: rate, sent, failed, readBack: checked, readBackMissing: missing, ...summary(h, acked, elapsed, before, after) };
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

const result = { database: database.kind, dbPid, concurrency, payload: content.length, seconds };
const writer = newWriter();
const grouped = (doc, w) => writer.write(doc, String(w % senders));
const single = (doc) => insertOne(doc);
if (opts.only !== 'latency') {
  result.groupCommit = await saturate(grouped);
  result.insertOne = await saturate(single);
}
// Each writer's latency at half of what it acknowledged in the closed loop: insertOne cannot carry
// half of the group commit's rate, and would only show its queue growing.
const rate = Number(opts['latency-rate'] ?? 0) || Math.round(result.groupCommit.ackedPerSecond / 2);
result.latency = { groupCommit: await atRate(grouped, rate) };
if (opts.only !== 'latency') result.latency.insertOne = await atRate(single, Math.round(result.insertOne.ackedPerSecond / 2));
result.storedMessages = await collection.estimatedDocumentCount();
await writer.drain(5000);
await database.close();
process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
