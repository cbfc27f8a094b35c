import { fileURLToPath } from 'node:url';
import { cruise, type ICruiseResult } from 'dependency-cruiser';
import extractDepcruiseOptions from 'dependency-cruiser/config-utl/extract-depcruise-options';
import extractTSConfig from 'dependency-cruiser/config-utl/extract-ts-config';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));

// The layer rules themselves live in .dependency-cruiser.cjs (docs/architecture.md explains them).
describe('the layers of src/', () => {
  it('have no import cycle (type-only imports included) and no import from a lower layer to a higher one', async () => {
    const cwd = process.cwd();
    process.chdir(root);
    let result: ICruiseResult;
    try {
      const options = await extractDepcruiseOptions('./.dependency-cruiser.cjs');
      const reported = await cruise(['src'], { ...options, validate: true }, undefined, { tsConfig: extractTSConfig('tsconfig.json') });
      result = reported.output as ICruiseResult;
    } finally {
      process.chdir(cwd);
    }
    // The rules ran over the real tree: every layer was read, type-only imports included.
    const sources = result.modules.map((module) => module.source);
    expect(sources).toEqual(expect.arrayContaining(['src/core/principal.ts', 'src/realtime/types.ts', 'src/modules/rooms/access.ts', 'src/db/migrations/0002-message-index.ts', 'src/cli/main.ts']));
    expect(result.summary.ruleSetUsed?.forbidden?.length).toBeGreaterThanOrEqual(5);
    const violations = result.summary.violations.map((violation) =>
      `${violation.rule.name}: ${violation.from} → ${violation.cycle?.length ? violation.cycle.map((step) => step.name).join(' → ') : violation.to}`,
    );
    expect(violations).toEqual([]);
  });
});
