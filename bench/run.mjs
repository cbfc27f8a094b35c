#!/usr/bin/env node
// `npm run bench [-- --quick] [--rounds N] [--peers raw-uws,socket.io,...] [--workloads 1000x10,100x100:1024] [--out docs/benchmarks.md]`
// Runs every available peer pinned to one core against the Go load generator pinned to the other,
// in rounds with a rotating order, and writes docs/benchmarks.md (+ .svg chart, + .json raw data).
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { persistArgs } from './lib/chatd.mjs';
import { BIN, buildTools, PEERS, ROOT, WORK } from './lib/peers.mjs';
import { cores, freePort, hardFileLimit, niceness, runPinned, stop } from './lib/proc.mjs';
import { describeMachine, loadSnapshot, renderReport } from './lib/report.mjs';
import { bestCleanStep, bestStep, median, sameWorkload, workloadLabel } from './lib/stats.mjs';

const MODES = {
  quick: {
    rounds: 1,
    workloads: [{ rooms: 10, members: 100, payload: 100 }],
    startDeliveries: 160000,
    factor: 2,
    refine: 1,
    warmup: 0.3,
    step: 1,
    drain: 1.5,
    // A single measured step after connecting: the first seconds of a run (JIT, caches, the
    // database's first writes) are not a server's steady state, for any peer.
    latencyWarmup: 1.5,
    latencySeconds: 2,
    // One rate in quick mode, one chatd can carry; the full mode adds half of raw uWS's.
    latencyBases: ['chatd', 'raw-uws'],
    latencyBaseCount: 1,
    idleConns: [3000],
    idleRounds: 1,
    settle: 1.5,
    persistRounds: 1,
    persistSeconds: 2,
    // Enough senders to keep one insert always in flight; 512 left the database idle part of the time.
    persistConcurrency: 2048,
  },
  full: {
    rounds: 2,
    // 10 000 connections each but 10×100 (issue 18's latency and CPU targets name it); a 1 KB
    // payload on the shape where the payload weighs most against the per-message work.
    workloads: [
      { rooms: 1000, members: 10, payload: 100 },
      { rooms: 100, members: 100, payload: 100 },
      { rooms: 10, members: 100, payload: 100 },
      { rooms: 10, members: 1000, payload: 100 },
      { rooms: 5000, members: 2, payload: 100 },
      { rooms: 100, members: 100, payload: 1024 },
    ],
    // Every peer runs every workload and round; chatd's 10 000 connections take 20–35 s to set
    // up on the embedded database (it reads memberships and block lists once at start-up).
    startDeliveries: 20000,
    factor: 2,
    refine: 2,
    warmup: 0.5,
    step: 1.5,
    drain: 2,
    latencyWarmup: 2,
    latencySeconds: 3,
    latencyBases: ['raw-uws', 'chatd'],
    idleConns: [10000, 50000],
    // The largest memory run is skipped for peers listed here: chatd was measured at 10 000 idle
    // connections only, from when setting them up took minutes; it has not been tried at the
    // descriptor limit since.
    idleMaxConns: { chatd: 10000, 'chatd-sio': 10000 },
    idleRounds: 1,
    settle: 3,
    persistRounds: 3,
    persistSeconds: 4,
    persistConcurrency: 2048,
  },
};

const { values: opts } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    // chatd's database commands per run, from its own command timings (METRICS_PORT's
    // chatd_db_command_duration_seconds): what the database does for chatd beyond the inserts.
    'db-profile': { type: 'boolean', default: false },
    rounds: { type: 'string' },
    peers: { type: 'string' },
    workloads: { type: 'string' },
    // Idle connection counts for the memory runs (`10000`, `3000,10000`), or `none`.
    idle: { type: 'string' },
    out: { type: 'string', default: 'docs/benchmarks.md' },
  },
});

const modeName = opts.quick ? 'quick' : 'full';
const mode = { ...MODES[modeName], rounds: opts.rounds ? Number(opts.rounds) : MODES[modeName].rounds };
if (opts.workloads === 'none') {
  mode.workloads = [];
} else if (opts.workloads) {
  // `ROOMSxMEMBERS[:PAYLOAD]`, payload in bytes (100 unless given); the mode's other settings stay.
  mode.workloads = opts.workloads.split(',').map((spec) => {
    const m = /^(\d+)x(\d+)(?::(\d+))?$/.exec(spec.trim());
    if (!m) {
      console.error(`bench: workload "${spec}" is not ROOMSxMEMBERS[:PAYLOAD], e.g. 100x100:1024`);
      process.exit(2);
    }
    return { rooms: Number(m[1]), members: Number(m[2]), payload: m[3] ? Number(m[3]) : 100 };
  });
}
if (opts.idle) {
  mode.idleConns = opts.idle === 'none' ? [] : opts.idle.split(',').map(Number);
  if (mode.idleConns.some((n) => !Number.isInteger(n) || n < 1)) {
    console.error(`bench: --idle "${opts.idle}" is not a list of connection counts, e.g. 10000 or 3000,10000 (or none)`);
    process.exit(2);
  }
}
const wanted = opts.peers ? new Set(opts.peers.split(',')) : undefined;
const unknown = wanted ? [...wanted].filter((n) => !PEERS.some((p) => p.name === n)) : [];
if (unknown.length) {
  console.error(`bench: unknown peer(s) ${unknown.join(', ')}; known: ${PEERS.map((p) => p.name).join(', ')}`);
  process.exit(2);
}
const selected = PEERS.filter((p) => !wanted || wanted.has(p.name));
const runnable = selected.filter((p) => !p.pending && !p.persistence);
const persistence = selected.find((p) => p.persistence);
for (const p of selected.filter((p) => p.pending)) console.error(`bench: skipping ${p.name}: ${p.pending}`);
if (runnable.length === 0 && !persistence) {
  console.error('bench: no runnable peer selected');
  process.exit(2);
}

const ncores = cores();
const SERVER_CORE = ncores >= 2 ? 0 : undefined;
const GEN_CORE = ncores >= 2 ? 1 : undefined;
const notes = [];
if (ncores < 2) notes.push('Fewer than 2 cores: server and generator were not pinned apart, so they competed for one core.');

const fdLimit = hardFileLimit();
const maxConns = Math.floor(fdLimit - 200);

const started = Date.now();
const machine = describeMachine();
const loadBefore = loadSnapshot();
buildTools({ centrifugo: runnable.some((p) => p.name === 'centrifugo'), chatd: selected.some((p) => p.name.startsWith('chatd')) });
const startedRuns = Date.now();

const rotate = (list, by) => list.map((_, i) => list[(i + by) % list.length]);
const roundsOf = (peer) => mode.peerRounds?.[peer.name] ?? mode.rounds;
const runsOn = (peer, workload) => mode.peerWorkloads?.[peer.name]?.(workload) ?? true;
for (const peer of runnable) {
  const skipped = mode.workloads.filter((w) => !runsOn(peer, w));
  if (skipped.length) notes.push(`${peer.name} was not run on ${skipped.map(workloadLabel).join(', ')}, to keep the full mode near an hour.`);
}
for (const [name, rounds] of Object.entries(mode.peerRounds ?? {})) {
  if (runnable.some((p) => p.name === name) && rounds < mode.rounds) notes.push(`${name} ran ${rounds} round(s) of the throughput and latency runs where the other peers ran ${mode.rounds}: setting up its 10 000 connections takes two to eight minutes per run.`);
}

/** Runs fn against a fresh instance of peer, set up for `plan` ({rooms, members} or {conns}). */
async function withPeer(peer, plan, fn) {
  const port = await freePort();
  // Memory runs start Node.js peers with the inspector on, to collect garbage before a second reading.
  const { child, loadgenArgs, cleanup, dbCommands } = await peer.start({ port, core: SERVER_CORE, plan, inspect: Boolean(plan.idle), dbProfile: opts['db-profile'] });
  try {
    const result = await fn({ pid: child.pid, args: ['-proto', peer.proto, '-url', `ws://127.0.0.1:${port}`, '-server-pid', String(child.pid), ...loadgenArgs] });
    if (dbCommands) result.dbCommands = await dbCommands();
    return result;
  } finally {
    await stop(child, 30_000); // chatd drains; a profile (CHATD_BENCH_NODE_ARGS=--cpu-prof) is written at exit
    cleanup?.();
  }
}

async function loadgen(args, tag) {
  const out = await runPinned(GEN_CORE, path.join(BIN, 'loadgen'), args, { prefix: `  [${tag}] ` });
  const result = JSON.parse(out);
  if (result.error) throw new Error(`${tag}: ${result.error}`);
  return result;
}

const results = {
  mode: modeName,
  config: mode,
  peers: PEERS.map(({ name, label: l, pending, persistence: p }) => ({ name, label: l, pending, persistence: p })),
  saturation: [],
  latency: [],
  idle: [],
  persistence: [],
  notes,
  failures: [],
};

/** One generator run against a fresh instance of peer; a failure is recorded and the suite goes on. */
async function measure(phase, peer, plan, tag, args) {
  console.error(`bench: ${phase} ${tag}`);
  const t0 = Date.now();
  try {
    return await withPeer(peer, plan, ({ args: peerArgs }) => loadgen([...peerArgs, ...args], tag));
  } catch (error) {
    console.error(`bench: ${tag} failed: ${error.message}`);
    results.failures.push({ run: tag, error: String(error.message).slice(0, 500) });
    return undefined;
  } finally {
    console.error(`bench: ${tag} took ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  }
}

const shape = (w) => ['-rooms', String(w.rooms), '-members', String(w.members), '-payload', String(w.payload)];
const timing = (seconds, warmup = mode.warmup) => ['-warmup', String(warmup), '-step', String(seconds), '-drain', String(mode.drain)];

// 1. Throughput: step the publish rate up to saturation, per workload and peer.
for (let round = 0; round < mode.rounds; round++) {
  for (const workload of mode.workloads) {
    for (const peer of rotate(runnable, round)) {
      if (round >= roundsOf(peer) || !runsOn(peer, workload)) continue;
      const tag = `${peer.name} ${workloadLabel(workload)} r${round + 1}`;
      const stepping = ['-start-rate', String(mode.startDeliveries / workload.members), '-factor', String(mode.factor), '-refine', String(mode.refine)];
      const result = await measure('saturation', peer, workload, tag, [...shape(workload), ...stepping, ...timing(mode.step)]);
      if (result) results.saturation.push({ peer: peer.name, workload, round, result });
    }
  }
}

writeReport();

// 2. Latency with every peer at the same offered rate: half of what a reference peer sustained.
// The reference is raw uWS (the ceiling); chatd's own sustained rate is a second one,
// because with its database on the same core chatd cannot carry half of the ceiling's rate.
const sustainedRate = (name, workload) => {
  const runs = results.saturation.filter((r) => r.peer === name && sameWorkload(r.workload, workload));
  // Half the sustained rate (p99 ≤ 200 ms, nothing lost): the peak is reached only by batching
  // behind a deep queue, and half of it is still past the knee where latency takes off.
  return runs.length ? median(runs.map((r) => (bestCleanStep(r.result.steps) ?? bestStep(r.result.steps)).deliveredRate)) : undefined;
};
const bases = mode.latencyBases.filter((name) => runnable.some((p) => p.name === name)).slice(0, mode.latencyBaseCount ?? Infinity);
if (runnable.length && !bases.includes('raw-uws')) notes.push(`raw uWebSockets.js was not selected, so latency is measured at 50 % of ${bases[0] ?? runnable[0].name}'s sustained rate only.`);
if (runnable.length && bases.length === 0) bases.push(runnable[0].name);
if (mode.latencyBaseCount && bases.length) notes.push(`Quick mode measures latency at one rate only, half of ${bases[0]}'s sustained rate; the full mode adds half of raw uWS's.`);
for (let round = 0; round < mode.rounds; round++) {
  for (const workload of mode.workloads) {
    const done = [];
    for (const basis of bases) {
      const deliveries = sustainedRate(basis, workload);
      if (!deliveries) continue;
      const pubRate = Math.round((10 * 0.5 * deliveries) / workload.members) / 10;
      // A second basis within 10 % of the first would measure the same thing again.
      if (done.some((r) => Math.abs(r - pubRate) / r < 0.1)) continue;
      done.push(pubRate);
      for (const peer of rotate(runnable, round)) {
        if (round >= roundsOf(peer) || !runsOn(peer, workload)) continue;
        // A rate well past what the peer sustained measures only its queue; said so instead of run.
        const own = sustainedRate(peer.name, workload);
        if (own !== undefined && pubRate * workload.members > 1.2 * own) {
          if (round === 0) notes.push(`${peer.name} was not run at ${Math.round(pubRate)} publishes/s on ${workloadLabel(workload)} (50 % of ${basis}'s sustained rate): it sustained ${Math.round(own / workload.members)} publishes/s there, so it could only show queueing delay.`);
          continue;
        }
        const tag = `${peer.name} ${workloadLabel(workload)} @${Math.round(pubRate)}/s (50 % of ${basis}) r${round + 1}`;
        const result = await measure('latency', peer, workload, tag, [...shape(workload), '-rates', String(pubRate), ...timing(mode.latencySeconds, mode.latencyWarmup)]);
        if (result) results.latency.push({ peer: peer.name, workload, round, basis, pubRate, result });
      }
    }
  }
}

writeReport();

// 3. Memory per idle connection, authenticated and joined to its room (rooms of 10).
const IDLE_ROOM_MEMBERS = 10;
for (const requested of mode.idleConns) {
  const conns = Math.min(requested, maxConns);
  if (conns < requested) {
    notes.push(
      `${requested.toLocaleString('en')} idle connections were asked for, but this machine's hard RLIMIT_NOFILE is ${fdLimit} per process ` +
        `(raising it needs CAP_SYS_RESOURCE), so that run used ${conns.toLocaleString('en')}.`,
    );
  }
  for (let round = 0; round < mode.idleRounds; round++) {
    for (const peer of rotate(runnable, round)) {
      const cap = mode.idleMaxConns?.[peer.name];
      if (cap !== undefined && requested > cap) {
        if (round === 0) notes.push(`${peer.name} was not measured with ${requested.toLocaleString('en')} idle connections (only up to ${cap.toLocaleString('en')}): it has not been tried at the descriptor limit (its set-up took minutes when this cap was set; about 18 s for 10 000 now).`);
        continue;
      }
      const tag = `${peer.name} idle ${conns} r${round + 1}`;
      const result = await measure('memory', peer, { rooms: Math.ceil(conns / IDLE_ROOM_MEMBERS), members: IDLE_ROOM_MEMBERS, idle: true }, tag, ['-mode', 'idle', '-conns', String(conns), '-members', String(IDLE_ROOM_MEMBERS), '-sources', '16', '-settle', String(mode.settle)]);
      if (result) results.idle.push({ peer: peer.name, requested, conns, round, result });
    }
  }
}

writeReport();

// 4. The persistence path alone: group commit against one insertOne per message, same database.
if (persistence) {
  for (let round = 0; round < mode.persistRounds; round++) {
    const tag = `chatd-persist r${round + 1}`;
    console.error(`bench: persistence ${tag}`);
    const { dataDir, args } = persistArgs({ work: WORK, port: await freePort(), seconds: mode.persistSeconds, concurrency: mode.persistConcurrency, payload: 100 });
    try {
      const out = await runPinned(SERVER_CORE, process.execPath, [path.join(ROOT, 'bench', 'peers', 'chatd-persist.mjs'), ...args], { prefix: `  [${tag}] ` });
      results.persistence.push({ round, result: JSON.parse(out) });
    } catch (error) {
      console.error(`bench: ${tag} failed: ${error.message}`);
      results.failures.push({ run: tag, error: String(error.message).slice(0, 500) });
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  }
}

/** Writes the report from what has been measured so far: a run cut short still leaves its results. */
function writeReport() {
  const finished = Date.now();
  Object.assign(results, {
    startedAt: new Date(started).toISOString(),
    finishedAt: new Date(finished).toISOString(),
    durationSeconds: (finished - started) / 1000,
    runSeconds: (finished - startedRuns) / 1000,
    machine: { ...machine, loadBefore, loadAfter: loadSnapshot(), fdLimit, serverCore: SERVER_CORE, generatorCore: GEN_CORE, niceness },
  });
  const outFile = path.resolve(ROOT, opts.out);
  mkdirSync(path.dirname(outFile), { recursive: true });
  const base = outFile.replace(/\.md$/, '');
  const { markdown, svg } = renderReport(results, { svgName: `${path.basename(base)}.svg`, argv: process.argv.slice(2) });
  writeFileSync(`${base}.json`, `${JSON.stringify(results, null, 1)}\n`);
  writeFileSync(`${base}.svg`, `${svg}\n`);
  writeFileSync(outFile, markdown);
  return outFile;
}

const outFile = writeReport();
console.error(`bench: wrote ${path.relative(ROOT, outFile)} (+ .svg, .json) in ${results.durationSeconds.toFixed(0)} s`);
if (results.failures.length) {
  console.error(`bench: ${results.failures.length} run(s) failed; see the report`);
  process.exitCode = 1;
}
