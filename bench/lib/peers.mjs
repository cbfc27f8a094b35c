// The servers under test. Each starts pinned to the server core with the same workload; the
// generator speaks each one's own protocol (bench/loadgen/proto.go).
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startChatd } from './chatd.mjs';
import { describeCommand, commandLog, gcCommand, inspectorUrl, spawnPinned, waitForPort } from './proc.mjs';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const BIN = path.join(ROOT, 'bench', 'bin');
export const WORK = path.join(ROOT, 'bench', '.work');

export const CENTRIFUGO_MODULE = 'github.com/centrifugal/centrifugo/v6';
export const CENTRIFUGO_VERSION = 'v6.9.1';

function run(cmd, args, options) {
  commandLog.push(describeCommand(cmd, args, options.env ? { GOBIN: options.env.GOBIN } : {}));
  const result = spawnSync(cmd, args, { stdio: 'inherit', ...options, env: { ...process.env, ...options.env } });
  if (result.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (exit ${result.status})`);
}

/**
 * Builds the load generator (cached by Go), chatd (dist/ and the embedded database launcher, as
 * `npm run setup` does; both cached) when a chatd peer runs, and, once, Centrifugo from the Go
 * module proxy.
 */
export function buildTools({ centrifugo, chatd }) {
  mkdirSync(BIN, { recursive: true });
  mkdirSync(WORK, { recursive: true });
  run('go', ['build', '-o', path.join(BIN, 'loadgen'), '.'], { cwd: path.join(ROOT, 'bench', 'loadgen') });
  if (chatd) {
    run('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: ROOT });
    if (!process.env.CHATD_BENCH_MONGODB_URI) run(process.execPath, ['scripts/build-ferretdb.mjs'], { cwd: ROOT });
  }
  const stamp = path.join(BIN, 'centrifugo.version');
  const current = existsSync(stamp) ? readFileSync(stamp, 'utf8').trim() : '';
  if (centrifugo && (current !== CENTRIFUGO_VERSION || !existsSync(path.join(BIN, 'centrifugo')))) {
    process.stderr.write(`bench: building Centrifugo ${CENTRIFUGO_VERSION} (first run only, a few minutes)\n`);
    run('go', ['install', `${CENTRIFUGO_MODULE}@${CENTRIFUGO_VERSION}`], { cwd: WORK, env: { GOBIN: BIN } });
    writeFileSync(stamp, `${CENTRIFUGO_VERSION}\n`);
  }
}

/**
 * `inspect` (memory runs only) starts the peer with its inspector on, so the generator can have it
 * collect garbage before reading its memory a second time (bench/lib/gc.mjs).
 */
function nodePeer(script) {
  return async ({ port, core, inspect }) => {
    const child = spawnPinned(core, process.execPath, [...(inspect ? ['--inspect=127.0.0.1:0'] : []), path.join('bench', 'peers', script)], {
      cwd: ROOT,
      env: { PORT: String(port), HOST: '127.0.0.1', NODE_ENV: 'production' },
    });
    const url = inspect ? inspectorUrl(child) : undefined;
    await waitForPort(child, port, script);
    return { child, loadgenArgs: url ? ['-gc-cmd', gcCommand(ROOT, await url)] : [] };
  };
}

async function startCentrifugo({ port, core }) {
  const secret = randomBytes(24).toString('hex');
  const dir = path.join(WORK, `centrifugo-${port}`);
  mkdirSync(dir, { recursive: true });
  const config = {
    http_server: { address: '127.0.0.1', port },
    log: { level: 'error' },
    usage_stats: { disabled: true },
    http_api: { disabled: true },
    client: { token: { hmac_secret_key: secret }, allowed_origins: ['*'] },
    // Clients may subscribe to and publish into any channel, as chat members do in their rooms.
    channel: { without_namespace: { allow_subscribe_for_client: true, allow_publish_for_client: true } },
  };
  const file = path.join(dir, 'config.json');
  writeFileSync(file, JSON.stringify(config, null, 2));
  const child = spawnPinned(core, path.join(BIN, 'centrifugo'), ['-c', file], { cwd: dir });
  await waitForPort(child, port, 'centrifugo');
  return { child, loadgenArgs: ['-secret', secret] };
}

/**
 * `pending` peers are listed so the report shows what is missing; they are never run, and nothing
 * stands in for them. `chatd-persist` has no WebSocket side: the runner measures it in a phase of
 * its own (bench/peers/chatd-persist.mjs).
 */
export const PEERS = [
  { name: 'raw-uws', label: 'raw uWebSockets.js', proto: 'raw', start: nodePeer('raw-uws.mjs') },
  { name: 'socket.io', label: 'Socket.IO 4 (ws)', proto: 'sio', start: nodePeer('socketio.mjs') },
  { name: 'centrifugo', label: `Centrifugo ${CENTRIFUGO_VERSION}`, proto: 'centrifugo', start: startCentrifugo },
  { name: 'chatd', label: 'chatd (hub + embedded FerretDB)', proto: 'chatd', start: (options) => startChatd({ ...options, work: WORK, root: ROOT }) },
  // The same chatd, driven as the spec's clients drive it: Socket.IO on the hub's port (WebSocket transport).
  { name: 'chatd-sio', label: 'chatd Socket.IO endpoint', proto: 'chatd-sio', start: (options) => startChatd({ ...options, work: WORK, root: ROOT }) },
  { name: 'chatd-persist', label: 'chatd persistence path alone', persistence: true },
];
