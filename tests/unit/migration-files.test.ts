import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { migrations } from '../../src/db/migrations/index.js';

describe('migration files', () => {
  it('registers every NNNN-name.ts file once, in order, under its file name', () => {
    const files = readdirSync(new URL('../../src/db/migrations/', import.meta.url))
      .filter((file) => /^\d{4}-[a-z0-9-]+\.ts$/.test(file))
      .map((file) => file.replace(/\.ts$/, ''))
      .sort();
    expect(migrations.map((m) => m.id)).toEqual(files);
  });
});
