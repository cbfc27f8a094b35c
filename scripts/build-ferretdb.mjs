#!/usr/bin/env node
// Builds the embedded database launcher once and again only when its sources change, so that
// repeated set-up runs cost nothing. The hash of the sources sits beside the binary.
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const source = join(root, 'tools', 'ferretdb');
const binary = join(source, 'bin', 'chatd-ferretdb');
const stamp = join(source, 'bin', '.source-hash');

const hash = createHash('sha256');
// Every file the build reads: the module files and the Go sources (tests included: cheap, and never stale).
const sources = ['go.mod', 'go.sum', ...readdirSync(source).filter((file) => file.endsWith('.go')).sort()];
for (const file of sources) hash.update(file).update(readFileSync(join(source, file)));
const digest = hash.digest('hex');

if (existsSync(binary) && existsSync(stamp) && readFileSync(stamp, 'utf8').trim() === digest) {
  console.log('embedded database launcher is up to date');
  process.exit(0);
}

const go = spawnSync('go', ['version'], { encoding: 'utf8' });
if (go.error || go.status !== 0) {
  console.error('chatd: building the embedded database needs Go 1.22 or newer (https://go.dev/dl/); ' +
    'without Go, set MONGODB_URI to use a MongoDB server instead.');
  process.exit(1);
}

console.log(`building the embedded database launcher with ${go.stdout.trim()} (first time takes a minute)...`);
mkdirSync(dirname(binary), { recursive: true });
const build = spawnSync('go', ['build', '-trimpath', '-o', binary, '.'], {
  cwd: source,
  stdio: 'inherit',
  env: { ...process.env, CGO_ENABLED: '0', GOFLAGS: '-mod=readonly' },
});
if (build.status !== 0) {
  console.error('chatd: building the embedded database launcher failed (see above)');
  process.exit(build.status ?? 1);
}
writeFileSync(stamp, digest + '\n');
console.log(`built ${binary}`);
