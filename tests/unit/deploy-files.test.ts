import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { renderEnvExample } from '../../src/config/example.js';
import { configSchema } from '../../src/config/schema.js';

const read = (path: string) => readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8');
const known = new Set(Object.keys((configSchema as unknown as { _zod: { def: { shape?: object; in?: { shape: object } } } })._zod.def.shape ?? {}));

describe('deployment files', () => {
  it('docker-compose.yml sets only variables the configuration knows', () => {
    const compose = parse(read('docker-compose.yml')) as { services: Record<string, { environment?: Record<string, unknown>; depends_on?: unknown; healthcheck?: unknown; image?: string }> };
    const chatd = compose.services.chatd!;
    const variables = Object.keys(chatd.environment ?? {});
    expect(variables.length).toBeGreaterThan(5);
    expect(variables.filter((name) => !known.has(name))).toEqual([]);
    expect(chatd.environment!.MONGODB_URI).toBe('mongodb://mongo:27017/chatd');
    expect(chatd.depends_on).toEqual({ mongo: { condition: 'service_healthy' } });
    expect(compose.services.mongo!.image).toBe('mongo:7');
    expect(compose.services.mongo!.healthcheck).toBeDefined();
  });

  it('the Dockerfile is multi-stage on node:20-bookworm-slim, non-root, with a healthcheck', () => {
    const dockerfile = read('Dockerfile');
    expect(dockerfile.match(/^FROM node:20-bookworm-slim/gm)).toHaveLength(2);
    expect(dockerfile).toMatch(/npm ci --omit=dev/);
    expect(dockerfile).toMatch(/^USER chatd$/m);
    expect(dockerfile).toMatch(/^HEALTHCHECK .*\n?.*\/healthz/m);
    expect(dockerfile).toMatch(/^VOLUME \["\/data"\]$/m);
  });

  it('.env.example documents every variable (regenerate with `npm run env:example`)', () => {
    expect(read('.env.example')).toBe(renderEnvExample());
    expect(known.size).toBeGreaterThan(10);
  });
});
