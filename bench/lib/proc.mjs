// Process plumbing for the bench runner: pinned spawns with the descriptor limit raised, port
// readiness, orderly stops, and the record of every command line for the report.
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';

/** Every command the runner started, in order, for the report's "exact commands". */
export const commandLog = [];

const quote = (arg) => (/^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${String(arg).replaceAll("'", "'\\''")}'`);

export function describeCommand(cmd, args, env = {}) {
  const prefix = Object.entries(env).map(([k, v]) => `${k}=${quote(v)} `).join('');
  return prefix + [cmd, ...args].map(quote).join(' ');
}

/** The hard RLIMIT_NOFILE: the most connections one process can hold here. */
export function hardFileLimit() {
  const out = spawnSync('bash', ['-c', 'ulimit -Hn'], { encoding: 'utf8' });
  const value = out.stdout.trim();
  return value === 'unlimited' ? Number.POSITIVE_INFINITY : Number(value);
}

export function cores() {
  const out = spawnSync('nproc', [], { encoding: 'utf8' });
  return Number(out.stdout.trim()) || 1;
}

/**
 * Scheduling priority of the measured processes. The machine is shared, and with autogroup
 * scheduling every session gets an equal share of a core whatever its processes' nice values; so
 * each measured process gets its own session (setsid) whose autogroup is set to this niceness. At
 * -10 a pinned server gets about 90 % of its core against one busy neighbour instead of half, for
 * the minutes a run lasts. Needs root (CAP_SYS_NICE); otherwise everything runs at 0.
 */
const AUTOGROUP_SETUP = (n) => `{ echo ${n} > /proc/self/autogroup; } 2>/dev/null; `;
export const niceness = (() => {
  const wanted = Number(process.env.BENCH_NICE ?? -10);
  const out = spawnSync('setsid', ['bash', '-c', `${AUTOGROUP_SETUP(wanted)}exec nice -n ${wanted} nice`], { encoding: 'utf8' });
  return out.status === 0 && Number(out.stdout.trim()) === wanted ? wanted : 0;
})();

/**
 * Starts cmd pinned to `core` (taskset) at the bench niceness with the soft descriptor limit raised
 * to the hard one. The shell execs the command, so the child's pid is the measured process's pid.
 */
export function spawnPinned(core, cmd, args, { env = {}, cwd, stdio = ['ignore', 'pipe', 'pipe'] } = {}) {
  const prefix = [...(niceness ? ['nice', '-n', String(niceness)] : []), ...(core === undefined ? [] : ['taskset', '-c', String(core)])];
  const argv = [...prefix, cmd, ...args];
  commandLog.push(describeCommand(argv[0], argv.slice(1), env));
  const setup = `${niceness ? AUTOGROUP_SETUP(niceness) : ''}ulimit -n "$(ulimit -Hn)" && exec "$@"`;
  return spawn('setsid', ['bash', '-c', setup, 'bash', ...argv], {
    cwd,
    env: { ...process.env, ...env },
    stdio,
  });
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

function canConnect(port) {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1' });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Waits until the child listens on port; fails early with its output if it exits first. */
export async function waitForPort(child, port, name, timeoutMs = 20000) {
  let output = '';
  child.stdout?.on('data', (d) => (output += d));
  child.stderr?.on('data', (d) => (output += d));
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${name} exited with ${child.exitCode} before listening:\n${output.slice(-2000)}`);
    if (await canConnect(port)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${name} did not listen on ${port} within ${timeoutMs / 1000}s:\n${output.slice(-2000)}`);
}

/** The inspector URL a Node.js process started with --inspect=127.0.0.1:0 prints on stderr. */
export function inspectorUrl(child, timeoutMs = 20000) {
  return new Promise((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => reject(new Error('no inspector URL on stderr')), timeoutMs);
    const onData = (d) => {
      seen = (seen + d).slice(-4000);
      const match = /Debugger listening on (ws:\/\/\S+)/.exec(seen);
      if (match) {
        clearTimeout(timer);
        child.stderr.off('data', onData);
        resolve(match[1]);
      }
    };
    child.stderr.on('data', onData);
  });
}

/** The generator's -gc-cmd for a Node.js peer whose inspector listens at url. */
export const gcCommand = (root, url) => `${process.execPath} ${root}/bench/lib/gc.mjs ${url}`;

export async function stop(child, graceMs = 3000) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

/** Runs a command to completion and returns its stdout; stderr lines are passed through prefixed. */
export async function runPinned(core, cmd, args, { timeoutMs = 600000, prefix = '' } = {}) {
  const child = spawnPinned(core, cmd, args);
  let stdout = '';
  let stderrTail = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => {
    stderrTail = (stderrTail + d).slice(-4000);
    for (const line of String(d).split('\n')) if (line.trim()) process.stderr.write(`${prefix}${line}\n`);
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const [code] = await once(child, 'exit');
  clearTimeout(timer);
  if (code !== 0) throw new Error(`${cmd} exited with ${code}: ${stderrTail.slice(-1000)}`);
  return stdout;
}
