#!/usr/bin/env node
// Run by `npm test` before anything else: finds the programs the tests drive (Chromium for the
// browser tests, curl and jq for the README's curl examples, podman and podman-compose for the
// container tests) and, run as root on Debian or Ubuntu, installs the missing ones with apt.
// Otherwise it names what is missing and the command that installs it, and fails.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';

const needs = [
  { program: 'chromium', package: 'chromium', paths: ['/usr/bin/chromium'], why: 'browser tests' },
  { program: 'curl', package: 'curl', why: "the README's curl examples" },
  { program: 'jq', package: 'jq', why: "the README's curl examples" },
  { program: 'podman', package: 'podman', why: 'container tests (tests/container)' },
  { program: 'podman-compose', package: 'podman-compose', why: 'the docker-compose.yml test' },
];

const found = (need) =>
  (need.paths ?? []).some((path) => existsSync(path)) ||
  (process.env.PATH ?? '').split(delimiter).some((dir) => dir && existsSync(join(dir, need.program)));

let missing = needs.filter((need) => !found(need));
if (missing.length === 0) process.exit(0);

const packages = [...new Set(missing.map((need) => need.package))];
const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const hasApt = existsSync('/usr/bin/apt-get');
if (isRoot && hasApt) {
  console.log(`test set-up: installing ${packages.join(', ')} with apt-get`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const update = spawnSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
  const install = update.status === 0 ? spawnSync('apt-get', ['install', '-y', '-qq', ...packages], { stdio: ['ignore', 'ignore', 'inherit'], env }) : update;
  if (install.status !== 0) console.error('test set-up: apt-get failed (see above)');
  missing = needs.filter((need) => !found(need));
  if (missing.length === 0) process.exit(0);
}

console.error('test set-up: the tests need programs this machine lacks:');
for (const need of missing) console.error(`  ${need.program} (${need.why})`);
console.error(
  hasApt
    ? `install them with: sudo apt-get install ${[...new Set(missing.map((need) => need.package))].join(' ')}`
    : 'install them with your package manager, then run `npm test` again',
);
process.exit(1);
