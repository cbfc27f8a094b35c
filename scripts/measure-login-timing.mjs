#!/usr/bin/env node
// Measures whether a login with an unknown e-mail and one with a wrong password for a real
// account take the same time (they must: otherwise response time tells which e-mails are
// registered). Not a test: timings depend on the machine. Usage, after `npm run setup`:
//   node scripts/measure-login-timing.mjs [rounds=300] [bcrypt cost=12]
// It starts `chatd serve` on the embedded database in a temporary directory, registers one
// account, then sends wrong-password and unknown-e-mail logins in random order, one at a time.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const rounds = Number(process.argv[2] ?? 300);
const cost = process.argv[3] ?? '12';
const bin = fileURLToPath(new URL('../bin/chatd', import.meta.url));

const freePort = () =>
  new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });

const dataDir = mkdtempSync(join(tmpdir(), 'chatd-timing-'));
const [port, wsPort] = [await freePort(), await freePort()];
const child = spawn(process.execPath, [bin, 'serve'], {
  cwd: dataDir,
  env: {
    PATH: process.env.PATH,
    NODE_ENV: 'test',
    LOG_LEVEL: 'warn',
    HOST: '127.0.0.1',
    PORT: String(port),
    WS_PORT: String(wsPort),
    CHATD_DATA_DIR: dataDir,
    JWT_SECRET: randomBytes(32).toString('hex'),
    JWT_REFRESH_SECRET: randomBytes(32).toString('hex'),
    BCRYPT_COST: cost,
    RATE_LIMIT_LOGIN: '1000000/15m',
  },
  stdio: ['ignore', 'pipe', 'inherit'],
});
createInterface({ input: child.stdout }).on('line', () => undefined);
const base = `http://127.0.0.1:${port}`;
for (let i = 0; ; i++) {
  try {
    if ((await fetch(`${base}/readyz`)).ok) break;
  } catch {
    // not up yet
  }
  if (i > 600) throw new Error('chatd did not start');
  await new Promise((resolve) => setTimeout(resolve, 100));
}

const post = async (path, body) => {
  const started = process.hrtime.bigint();
  const response = await fetch(base + path, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
  const text = await response.text();
  return { ms: Number(process.hrtime.bigint() - started) / 1e6, status: response.status, text };
};

const email = `timing.${randomBytes(4).toString('hex')}@example.test`;
await post('/api/auth/register', { username: `timing_${randomBytes(3).toString('hex')}`, email, password: 'Str0ng!timing' });
// Warm up both paths (JIT, connection pool, the comparison hash).
for (let i = 0; i < 10; i++) {
  await post('/api/auth/login', { email, password: 'Wr0ng!password' });
  await post('/api/auth/login', { email: `nobody${i}@example.test`, password: 'Wr0ng!password' });
}

// The control skips bcrypt (a password over 72 bytes is refused before any work): it shows how
// large a difference is when one path leaves bcrypt out, so a real leak would not go unseen.
const samples = { wrongPassword: [], unknownEmail: [], control: [] };
const bodies = new Set();
for (let i = 0; i < rounds * 3; i++) {
  const kind = ['wrongPassword', 'unknownEmail', 'control'][Math.floor(Math.random() * 3)];
  const body =
    kind === 'wrongPassword'
      ? { email, password: 'Wr0ng!password' }
      : kind === 'unknownEmail'
        ? { email: `nobody.${randomBytes(4).toString('hex')}@example.test`, password: 'Wr0ng!password' }
        : { email, password: 'x'.repeat(73) };
  const result = await post('/api/auth/login', body);
  samples[kind].push(result.ms);
  if (kind !== 'control') bodies.add(`${result.status} ${result.text}`);
}
child.kill('SIGTERM');
await new Promise((resolve) => child.once('exit', resolve));
rmSync(dataDir, { recursive: true, force: true });

const stats = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  const mean = sorted.reduce((sum, v) => sum + v, 0) / sorted.length;
  const sd = Math.sqrt(sorted.reduce((sum, v) => sum + (v - mean) ** 2, 0) / (sorted.length - 1));
  return { n: sorted.length, mean, sd, p10: at(0.1), median: at(0.5), p90: at(0.9) };
};
// Mann-Whitney U with the normal approximation: is one distribution shifted against the other?
const mannWhitney = (a, b) => {
  const all = [...a.map((v) => [v, 0]), ...b.map((v) => [v, 1])].sort((x, y) => x[0] - y[0]);
  const ranks = new Array(all.length);
  for (let i = 0; i < all.length; ) {
    let j = i;
    while (j + 1 < all.length && all[j + 1][0] === all[i][0]) j++;
    for (let k = i; k <= j; k++) ranks[k] = (i + j) / 2 + 1;
    i = j + 1;
  }
  const rankSumA = all.reduce((sum, [, group], index) => (group === 0 ? sum + ranks[index] : sum), 0);
  const u = rankSumA - (a.length * (a.length + 1)) / 2;
  const mu = (a.length * b.length) / 2;
  const sigma = Math.sqrt((a.length * b.length * (a.length + b.length + 1)) / 12);
  return { u, z: (u - mu) / sigma, probabilityAGreater: u / (a.length * b.length) };
};

const fmt = (s) => `n=${s.n} mean=${s.mean.toFixed(1)}ms sd=${s.sd.toFixed(1)} p10=${s.p10.toFixed(1)} median=${s.median.toFixed(1)} p90=${s.p90.toFixed(1)}`;
const wrong = stats(samples.wrongPassword);
const unknown = stats(samples.unknownEmail);
const control = stats(samples.control);
const test = mannWhitney(samples.wrongPassword, samples.unknownEmail);
const controlTest = mannWhitney(samples.wrongPassword, samples.control);
console.log(`bcrypt cost ${cost}, ${rounds * 3} logins in random order`);
console.log(`wrong password: ${fmt(wrong)}`);
console.log(`unknown e-mail: ${fmt(unknown)}`);
console.log(`median difference ${(wrong.median - unknown.median).toFixed(2)}ms (${(((wrong.median - unknown.median) / unknown.median) * 100).toFixed(2)}%)`);
console.log(`Mann-Whitney: z=${test.z.toFixed(2)}, P(wrong-password slower) = ${test.probabilityAGreater.toFixed(3)} (0.5 = indistinguishable; |z| < 1.96 = no shift at 5%)`);
console.log(`control (no bcrypt): ${fmt(control)}; against wrong password z=${controlTest.z.toFixed(2)}, P = ${controlTest.probabilityAGreater.toFixed(3)}`);
console.log(`distinct answers: ${bodies.size} (1 = identical status and body)`);
