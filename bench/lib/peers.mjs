// The servers under test. Each starts pinned to the server core with the same workload; the
// generator speaks each one's own protocol (bench/loadgen/proto.go).
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describeCommand, commandLog, spawnPinned, waitForPort } from './proc.mjs';

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

/** Builds the load generator (cached by Go) and, once, Centrifugo from the Go module proxy. */
export function buildTools({ centrifugo }) {
  mkdirSync(BIN, { recursive: true });
  mkdirSync(WORK, { recursive: true });
  run('go', ['build', '-o', path.join(BIN, 'loadgen'), '.'], { cwd: path.join(ROOT, 'bench', 'loadgen') });
  const stamp = path.join(BIN, 'centrifugo.version');
  const current = existsSync(stamp) ? readFileSync(stamp, 'utf8').trim() : '';
  if (centrifugo && (current !== CENTRIFUGO_VERSION || !existsSync(path.join(BIN, 'centrifugo')))) {
    process.stderr.write(`bench: building Centrifugo ${CENTRIFUGO_VERSION} (first run only, a few minutes)\n`);
    run('go', ['install', `${CENTRIFUGO_MODULE}@${CENTRIFUGO_VERSION}`], { cwd: WORK, env: { GOBIN: BIN } });
    writeFileSync(stamp, `${CENTRIFUGO_VERSION}\n`);
  }
}

function nodePeer(script) {
  return async ({ port, core }) => {
    const child = spawnPinned(core, process.execPath, [path.join('bench', 'peers', script)], {
      cwd: ROOT,
      env: { PORT: String(port), HOST: '127.0.0.1', NODE_ENV: 'production' },
    });
    await waitForPort(child, port, script);
    return { child, loadgenArgs: [] };
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

const notYet =
  "chatd's messaging (send_message → message_sent/new_message, join_room) has not landed on main yet; " +
  'this peer is wired in once it does';

/**
 * `pending` peers are listed so the report shows what is missing; they are never run, and nothing
 * stands in for them.
 */
export const PEERS = [
  { name: 'raw-uws', label: 'raw uWebSockets.js', proto: 'raw', start: nodePeer('raw-uws.mjs') },
  { name: 'socket.io', label: 'Socket.IO 4 (ws)', proto: 'sio', start: nodePeer('socketio.mjs') },
  { name: 'centrifugo', label: `Centrifugo ${CENTRIFUGO_VERSION}`, proto: 'centrifugo', start: startCentrifugo },
  { name: 'chatd', label: 'chatd hub (database in the loop)', proto: 'chatd', pending: notYet },
  { name: 'chatd-persist', label: 'chatd persistence path alone', pending: notYet },
];
