import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { renderEnvExample } from '../../src/config/example.js';
import { configSchema } from '../../src/config/schema.js';

const read = (path: string) => readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8');
const known = new Set(Object.keys((configSchema as unknown as { _zod: { def: { shape?: object; in?: { shape: object } } } })._zod.def.shape ?? {}));

describe('deployment files', () => {
  it('docker-compose.yml is chatd alone on its embedded database, reading .env, healthy only when ready', () => {
    const compose = parse(read('docker-compose.yml')) as { services: Record<string, { environment?: Record<string, unknown>; env_file?: unknown; healthcheck?: { test: string[] }; volumes?: string[] }> };
    expect(Object.keys(compose.services)).toEqual(['chatd']);
    const chatd = compose.services.chatd!;
    expect(Object.keys(chatd.environment ?? {}).filter((name) => !known.has(name))).toEqual([]);
    expect(chatd.environment!.MONGODB_URI).toBeUndefined();
    expect(chatd.env_file).toBe('.env');
    expect(chatd.healthcheck!.test).toEqual(['CMD', 'chatd-healthcheck']);
    expect(read('docker/healthcheck.mjs')).toMatch(/\/readyz/);
    expect(chatd.volumes).toEqual(['chatd-data:/data']);
  });

  it('the MongoDB compose template reads the env file and checks readiness too', () => {
    const template = read('templates/docker-compose-mongodb.yml.template');
    expect(template).toMatch(/env_file: \{\{ENV_FILE\}\}/);
    expect(template).toMatch(/test: \["CMD", "chatd-healthcheck"\]/);
    expect(template).toMatch(/image: mongo:7/);
  });

  it('the Dockerfile builds the launcher in a Go stage and runs unprivileged on node:20-bookworm-slim, healthy only when ready', () => {
    const dockerfile = read('Dockerfile');
    expect(dockerfile).toMatch(/^FROM golang:[\d.]+-bookworm AS launcher$/m);
    expect(dockerfile).toMatch(/^COPY --from=launcher \S+ \.\/tools\/ferretdb\/bin\/chatd-ferretdb$/m);
    expect(dockerfile.match(/^FROM node:20-bookworm-slim/gm)).toHaveLength(3);
    expect(dockerfile).toMatch(/npm ci --omit=dev/);
    expect(dockerfile).toMatch(/^USER chatd$/m);
    expect(dockerfile).toMatch(/^HEALTHCHECK .* CMD \["chatd-healthcheck"\]$/m);
    expect(dockerfile).toMatch(/^COPY docker\/healthcheck\.mjs \/usr\/local\/bin\/chatd-healthcheck$/m);
    expect(dockerfile).toMatch(/^VOLUME \["\/data"\]$/m);
  });

  it('the npm package carries every file the embedded database launcher is built from', () => {
    // `npm run build:ferretdb` compiles every Go file of tools/ferretdb; a package naming only
    // some of them (it once listed main.go alone) cannot build the launcher where it is installed.
    const root = fileURLToPath(new URL('../..', import.meta.url));
    const [pack] = JSON.parse(execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })) as [{ files: { path: string }[] }];
    const packed = new Set(pack.files.map((file) => file.path));
    const sources = readdirSync(new URL('../../tools/ferretdb/', import.meta.url)).filter((name) => name.endsWith('.go') && !name.endsWith('_test.go'));
    expect(sources).toContain('main.go');
    for (const needed of [...sources.map((name) => `tools/ferretdb/${name}`), 'tools/ferretdb/go.mod', 'tools/ferretdb/go.sum', 'scripts/build-ferretdb.mjs']) {
      expect(packed.has(needed), needed).toBe(true);
    }
  }, 60_000);

  it('.env.example documents every variable (regenerate with `npm run env:example`)', () => {
    expect(read('.env.example')).toBe(renderEnvExample());
    expect(known.size).toBeGreaterThan(10);
  });
});
