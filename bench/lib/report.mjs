// Turns the runner's raw results into docs/benchmarks.md and its SVG chart.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { commandLog } from './proc.mjs';
import { CENTRIFUGO_MODULE, CENTRIFUGO_VERSION, ROOT } from './peers.mjs';
import { bestCleanStep, bestStep, sameWorkload, spread, workloadLabel } from './stats.mjs';
import { chart, compact } from './svg.mjs';

function sh(cmd, args) {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return 'unknown';
  }
}

function packageVersion(name) {
  try {
    return JSON.parse(readFileSync(path.join(ROOT, 'node_modules', name, 'package.json'), 'utf8')).version;
  } catch {
    return 'not installed';
  }
}

export function describeMachine() {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  const field = (name) => [...new Set([...cpuinfo.matchAll(new RegExp(`^${name}\\s*:\\s*(.*)$`, 'gm'))].map((m) => m[1].trim()))].join(', ');
  const osRelease = (() => {
    try {
      return /^PRETTY_NAME="?([^"\n]*)/m.exec(readFileSync('/etc/os-release', 'utf8'))?.[1] ?? 'unknown';
    } catch {
      return 'unknown';
    }
  })();
  return {
    cpu: field('model name'),
    mhz: field('cpu MHz'),
    cache: field('cache size'),
    nproc: sh('nproc', []),
    memory: `${(os.totalmem() / 2 ** 30).toFixed(1)} GiB`,
    kernel: os.release(),
    os: osRelease,
    node: process.version,
    go: sh('go', ['version']).replace(/^go version /, ''),
    uws: packageVersion('uWebSockets.js'),
    socketio: packageVersion('socket.io'),
    ws: packageVersion('ws'),
    centrifugo: CENTRIFUGO_VERSION,
  };
}

/** Load average and the busiest processes: the machine is shared, so the report says how busy it was. */
export function loadSnapshot() {
  const loadavg = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  const top = sh('top', ['-bn2', '-d0.5', '-o', '%CPU', '-w', '200'])
    .split('\n')
    .reduce((acc, line) => {
      if (line.startsWith('top -')) acc.iteration += 1;
      else if (acc.iteration === 2 && /^\s*\d+\s/.test(line)) acc.rows.push(line.trim().split(/\s+/));
      return acc;
    }, { iteration: 0, rows: [] })
    .rows.filter((r) => Number(r[8]) >= 5)
    .slice(0, 4)
    .map((r) => `${r.slice(11).join(' ')} ${r[8]}%`);
  return { loadavg, busy: top };
}

const fmtRate = (s) => (s ? `${compact(s.median)}${s.n > 1 ? ` (${compact(s.min)}–${compact(s.max)})` : ''}` : '–');
const fmtNum = (s, digits = 2, scale = 1) =>
  s ? `${(s.median * scale).toFixed(digits)}${s.n > 1 ? ` (${(s.min * scale).toFixed(digits)}–${(s.max * scale).toFixed(digits)})` : ''}` : '–';

/** Per peer and workload: throughput and cost at the best step of each round. */
function saturationRows(results, peers, workloads) {
  const rows = [];
  for (const w of workloads) {
    for (const p of peers) {
      const matching = results.saturation.filter((r) => r.peer === p.name && sameWorkload(r.workload, w));
      const runs = matching.map((r) => bestStep(r.result.steps));
      if (runs.length === 0) continue;
      rows.push({
        workload: w,
        peer: p,
        delivered: spread(runs.map((s) => s.deliveredRate)),
        sustained: spread(matching.map((r) => bestCleanStep(r.result.steps)?.deliveredRate ?? 0)),
        cpuUs: spread(runs.map((s) => s.serverCpuUsPerDelivered)),
        serverPct: spread(runs.map((s) => s.serverCpuPct)),
        genPct: spread(runs.map((s) => s.genCpuPct)),
      });
    }
  }
  return rows;
}

function latencyRows(results, peers, workloads) {
  const rows = [];
  for (const w of workloads) {
    for (const p of peers) {
      const runs = results.latency.filter((r) => r.peer === p.name && sameWorkload(r.workload, w));
      if (runs.length === 0) continue;
      const steps = runs.map((r) => r.result.steps[0]);
      rows.push({
        workload: w,
        peer: p,
        pubRate: runs[0].pubRate,
        p50: spread(steps.map((s) => s.p50us)),
        p99: spread(steps.map((s) => s.p99us)),
        p999: spread(steps.map((s) => s.p999us)),
        keptUp: steps.filter((s) => !s.saturated).length,
        runs: steps.length,
        lost: steps.reduce((a, s) => a + s.lost, 0),
        gapSubs: Math.max(...steps.map((s) => s.gapSubscribers)),
        cpuUs: spread(steps.map((s) => s.serverCpuUsPerDelivered)),
        serverPct: spread(steps.map((s) => s.serverCpuPct)),
        genPct: spread(steps.map((s) => s.genCpuPct)),
        reasons: [...new Set(steps.map((s) => s.saturationReason).filter(Boolean))],
      });
    }
  }
  return rows;
}

function idleRows(results, peers) {
  const rows = [];
  for (const conns of [...new Set(results.idle.map((r) => r.conns))]) {
    for (const p of peers) {
      const runs = results.idle.filter((r) => r.peer === p.name && r.conns === conns).map((r) => r.result);
      if (runs.length === 0) continue;
      rows.push({
        peer: p,
        conns,
        sources: runs[0].sources,
        kib: spread(runs.map((r) => r.bytesPerConn / 1024)),
        rssAfter: spread(runs.map((r) => r.rssAfterKiB / 1024)),
        connectSeconds: spread(runs.map((r) => r.connectSeconds)),
      });
    }
  }
  return rows;
}

export function renderReport(results, { svgName, argv }) {
  const peers = results.peers.filter((p) => !p.pending && results.saturation.some((r) => r.peer === p.name));
  const workloads = results.config.workloads;
  const sat = saturationRows(results, peers, workloads);
  const lat = latencyRows(results, peers, workloads);
  const idle = idleRows(results, peers);
  const m = results.machine;
  const ceiling = (w) => sat.find((r) => r.peer.name === 'raw-uws' && sameWorkload(r.workload, w));

  const svg = chart({
    title: `chatd benchmark (${results.mode} mode, ${results.startedAt.slice(0, 10)})`,
    series: peers.map((p) => ({ name: p.label, key: p.name })),
    panels: [
      {
        title: 'Peak delivered messages per second (server on one core)',
        unit: 'msgs/s',
        groups: workloads.map(workloadLabel),
        value: (g, s) => sat.find((r) => workloadLabel(r.workload) === g && r.peer.name === s.key)?.delivered,
      },
      {
        title: 'Server CPU per delivered message at the peak (lower is better)',
        unit: 'µs',
        groups: workloads.map(workloadLabel),
        value: (g, s) => sat.find((r) => workloadLabel(r.workload) === g && r.peer.name === s.key)?.cpuUs,
      },
      {
        title: 'Server memory per idle connection (lower is better)',
        unit: 'KiB',
        groups: [...new Set(idle.map((r) => `${r.conns.toLocaleString('en')} connections`))],
        value: (g, s) => idle.find((r) => `${r.conns.toLocaleString('en')} connections` === g && r.peer.name === s.key)?.kib,
      },
    ],
  });

  const L = [];
  const command = `npm run bench${argv.length ? ` -- ${argv.join(' ')}` : ''}`;
  L.push('# Benchmarks', '');
  L.push(
    `Generated by \`${command}\` (${results.mode} mode) on ${results.startedAt.replace('T', ' ').slice(0, 16)} UTC; ` +
      `the whole command took ${results.durationSeconds.toFixed(0)} s, of which ${results.runSeconds.toFixed(0)} s of measurement ` +
      `(${results.config.rounds} round(s), peers in a rotating order). Raw data: [${svgName.replace(/\.svg$/, '.json')}](${svgName.replace(/\.svg$/, '.json')}).`,
    '',
  );
  const pending = results.peers.filter((p) => p.pending);
  if (pending.length) {
    L.push(`**Not measured yet:** ${pending.map((p) => `${p.label} (\`${p.name}\`)`).join(', ')}: ${pending[0].pending}.`, '');
  }
  L.push(`![benchmark chart](${svgName})`, '');

  L.push('## Machine', '');
  L.push('| | |', '| --- | --- |');
  L.push(`| CPU | ${m.cpu} × ${m.nproc} (${m.mhz} MHz, ${m.cache} cache) |`);
  L.push(`| pinning | server on core ${m.serverCore ?? 'any'}, load generator on core ${m.generatorCore ?? 'any'} (\`taskset\`), both at nice ${m.niceness} |`);
  L.push(`| memory | ${m.memory} |`);
  L.push(`| system | ${m.os}, Linux ${m.kernel} |`);
  L.push(`| runtimes | Node.js ${m.node}, Go ${m.go} |`);
  L.push(`| peers | uWebSockets.js ${m.uws}, Socket.IO ${m.socketio} on ws ${m.ws}, Centrifugo ${m.centrifugo} (\`go install ${CENTRIFUGO_MODULE}@${CENTRIFUGO_VERSION}\`) |`);
  L.push(`| descriptors | hard RLIMIT_NOFILE ${m.fdLimit} per process |`);
  L.push(`| load average before → after | ${m.loadBefore.loadavg} → ${m.loadAfter.loadavg} |`);
  L.push(`| other busy processes at start | ${m.loadBefore.busy.join('; ') || 'none'} |`);
  L.push('');

  L.push('## Throughput at saturation', '');
  L.push(
    'The publish rate is stepped up geometrically until the server is overloaded (deliveries fall behind publishes by more than 10 %, messages are lost, ' +
      'publishes back up, or the server answers errors or closes connections), then bisected once or twice. **Peak** is the step that delivered most, ' +
      'whatever its latency (CPU, server and generator load are from that step); **sustained** is the best step that also kept p99 latency under 200 ms ' +
      'and lost nothing. Values: median (min–max over rounds).',
    '',
  );
  L.push('| workload (rooms × members, payload) | peer | peak delivered msgs/s | × raw uWS | sustained msgs/s (p99 ≤ 200 ms, no loss) | server CPU µs / delivered msg | server CPU % | generator CPU % |');
  L.push('| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const r of sat) {
    const c = ceiling(r.workload);
    const ratio = c ? (r.delivered.median / c.delivered.median).toFixed(2) : '–';
    L.push(
      `| ${workloadLabel(r.workload)} | ${r.peer.label} | ${fmtRate(r.delivered)} | ${ratio} | ${fmtRate(r.sustained)} | ${fmtNum(r.cpuUs)} | ${fmtNum(r.serverPct, 0)} | ${fmtNum(r.genPct, 0)} |`,
    );
  }
  L.push('');

  L.push('## Latency at 50 % of the raw uWS sustained rate', '');
  L.push(
    'Every peer gets the same offered rate: half of what raw uWebSockets.js sustained (p99 ≤ 200 ms, nothing lost; its peak is only reached by batching ' +
      'behind a deep queue, and half the peak is still past the knee where latency takes off). Latency is publish → delivery to each member, ' +
      'from one monotonic clock in the generator. A peer that cannot sustain the rate shows queueing delay, not its latency.',
    '',
  );
  L.push('| workload | offered publishes/s (deliveries/s) | peer | p50 ms | p99 ms | p99.9 ms | kept up | lost deliveries (max subscribers with gaps) | server CPU µs / msg | server CPU % | generator CPU % |');
  L.push('| --- | ---: | --- | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: |');
  for (const r of lat) {
    const kept = r.keptUp === r.runs ? 'yes' : `${r.keptUp}/${r.runs}: ${r.reasons.join('; ')}`;
    L.push(
      `| ${workloadLabel(r.workload)} | ${compact(r.pubRate)} (${compact(r.pubRate * r.workload.members)}) | ${r.peer.label} | ${fmtNum(r.p50, 2, 1e-3)} | ${fmtNum(r.p99, 2, 1e-3)} | ${fmtNum(r.p999, 2, 1e-3)} | ${kept} | ${r.lost} (${r.gapSubs}) | ${fmtNum(r.cpuUs)} | ${fmtNum(r.serverPct, 0)} | ${fmtNum(r.genPct, 0)} |`,
    );
  }
  L.push('');

  L.push('## Memory per idle connection', '');
  L.push(
    'Connections are opened from several 127.0.0.x source addresses and authenticated where the peer has authentication (Centrifugo: HS256 JWT; Socket.IO: namespace connect; raw uWS: none), ' +
      'then left idle; the server\'s resident set growth is divided by the connection count.',
    '',
  );
  L.push('| peer | connections | source addresses | KiB per connection | server RSS after, MiB | connect time s |');
  L.push('| --- | ---: | ---: | ---: | ---: | ---: |');
  for (const r of idle) {
    L.push(`| ${r.peer.label} | ${r.conns.toLocaleString('en')} | ${r.sources} | ${fmtNum(r.kib, 2)} | ${fmtNum(r.rssAfter, 0)} | ${fmtNum(r.connectSeconds, 1)} |`);
  }
  L.push('');

  L.push('## Against issue 7\'s reference figures', '');
  L.push(
    'Issue 7 quotes, for 1000 clients in 10 rooms of 100 with 100 B messages on this kind of machine: raw uWS ≈1.1 µs server CPU per delivered message and ≈1.3 KiB per connection; ' +
      'Socket.IO 4.8 ≈11.9 µs and ≈26 KiB.',
    '',
  );
  L.push('| peer | µs / msg (issue) | µs / msg at the peak, 10×100 100 B (here) | µs / msg at 50 % rate (here) | KiB / conn (issue) | KiB / conn (here, smallest run) |');
  L.push('| --- | ---: | ---: | ---: | ---: | ---: |');
  const ref = { 'raw-uws': [1.1, 1.3], 'socket.io': [11.9, 26] };
  const w100 = { rooms: 10, members: 100, payload: 100 };
  for (const p of peers) {
    const s = sat.find((r) => r.peer.name === p.name && sameWorkload(r.workload, w100));
    const l = lat.find((r) => r.peer.name === p.name && sameWorkload(r.workload, w100));
    const i = idle.filter((r) => r.peer.name === p.name).sort((a, b) => a.conns - b.conns)[0];
    L.push(`| ${p.label} | ${ref[p.name]?.[0] ?? '–'} | ${fmtNum(s?.cpuUs)} | ${fmtNum(l?.cpuUs)} | ${ref[p.name]?.[1] ?? '–'} | ${fmtNum(i?.kib)} |`);
  }
  L.push('');

  L.push(
    'Where the figures differ: server CPU per message is not one number but falls with the rate (see below), so the saturation figure can be below the ' +
      'issue\'s and the 50 % figure above it; memory here is the growth of the server\'s RSS over its idle baseline for connections that authenticated ' +
      'but joined no room, read after a short settle without forcing a garbage collection, so it leaves out per-subscription state and the V8 heap growth a later ' +
      'collection would show.',
    '',
  );

  L.push('## How to read these numbers', '');
  L.push(
    '- **CPU per message depends on the rate.** The server is charged for its own syscalls and, on loopback, for the kernel work of delivering to the receiving socket. ' +
      'At low rates every delivery is its own `write`; near saturation uWS and the kernel batch many frames per syscall, so µs/msg falls as the rate rises. ' +
      'Compare peers at the same rate (the latency table) as well as at saturation.',
    '- **Loopback puts both ends\' kernel work on the sender.** A `write` to a loopback socket runs the receiving socket\'s TCP input inline, so when every ' +
      'delivery is its own write (sparse fan-out: 1000×10, 5000×2, or any low rate) each costs the server several µs whatever the server is, and the ' +
      'generator pays the mirror image for its reads and ACKs. Over a real network part of that moves to the NIC and the clients\' machines.',
    '- **Delivered msgs/s is bounded by whichever core saturates first.** The generator column shows how busy the load generator\'s core was; ' +
      'near 100 % the ceiling measured is partly the generator\'s (it reads every delivery of every connection), and latency includes its queueing.',
    '- **The machine is shared** with other work (see the load average above); a busy neighbour on the server\'s core lowers its throughput and raises its µs/msg. ' +
      'Rounds in rotating order and medians damp this, the min–max spread shows it.',
    '- **Gaps**: each subscriber checks it received every message its room was sent; raw uWS drops frames for a subscriber past its 4 MiB backpressure limit, ' +
      'Socket.IO buffers without bound, Centrifugo disconnects a client whose queue exceeds 1 MiB; any of that marks a step overloaded.',
    '',
  );

  if (results.notes.length) {
    L.push('## Notes', '');
    for (const n of results.notes) L.push(`- ${n}`);
    L.push('');
  }
  if (results.failures.length) {
    L.push('## Failed runs', '');
    for (const f of results.failures) L.push(`- ${f.run}: ${f.error}`);
    L.push('');
  }

  L.push('## Commands', '');
  L.push('```sh', 'npm ci', command, '```', '');
  L.push(
    'The runner builds the generator (`bench/loadgen`, Go) into `bench/bin/`, installs Centrifugo there on first use, starts each peer pinned to the server core, and runs the generator pinned to the other core. ' +
      'Every process it started, in order:',
    '',
  );
  L.push('<details><summary>command lines</summary>', '', '```sh', ...commandLog.map((c) => c.replaceAll(`${ROOT}/`, '').replace(/-secret [0-9a-f]+/, '-secret <generated>')), '```', '', '</details>', '');
  return { markdown: `${L.join('\n')}\n`, svg };
}
