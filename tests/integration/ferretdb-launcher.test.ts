import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../support/chatd.js';

describe('the embedded database launcher', () => {
  // The launcher's own Go tests: FerretDB's _id statements get an index they use (tools/ferretdb/main_test.go).
  it('passes its Go tests', () => {
    const result = spawnSync('go', ['test', './...'], { cwd: join(repoRoot, 'tools', 'ferretdb'), encoding: 'utf8' });
    expect(result.status, `${result.stdout}\n${result.stderr}`).toBe(0);
  }, 300_000);
});
