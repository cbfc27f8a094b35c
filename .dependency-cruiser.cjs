// The layers of src/ (docs/architecture.md), lowest first. A layer imports only from the layers
// below it; tests/unit/architecture.test.ts runs these rules in `npm test`, and
// `npx depcruise src` prints the same verdict.
//   core:       src/core, and the leaf files at src/ (errors, logger, format, version, schemas)
//   config:     src/config
//   infra:      src/db (migrations included), src/http, src/realtime
//   modules:    src/modules (one folder per capability)
//   ops:        src/ops (backup, retention, doctor), src/metrics
//   composition src/services.ts, src/server.ts
//   cli:        src/cli
const core = '^src/(core/|errors\\.ts$|logger\\.ts$|format\\.ts$|version\\.ts$|schemas\\.ts$)';
const composition = '^src/(services|server)\\.ts$';

module.exports = {
  forbidden: [
    {
      name: 'no-cycles',
      comment: 'An import cycle (type-only imports count too) ties modules that should be layered.',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'core-is-the-bottom',
      comment: 'src/core and the leaf files are shared by every layer, so they import none of them.',
      severity: 'error',
      from: { path: core },
      to: { path: '^src/', pathNot: core },
    },
    {
      name: 'config-imports-only-core',
      severity: 'error',
      from: { path: '^src/config/' },
      to: { path: '^src/', pathNot: `${core}|^src/config/` },
    },
    {
      name: 'infra-never-imports-capabilities',
      comment: 'db, http and realtime serve every module; what they share with modules lives in src/core. Migrations are history: they copy what they need.',
      severity: 'error',
      from: { path: '^src/(db|http|realtime)/' },
      to: { path: `^src/(modules|ops|metrics|cli)/|${composition}` },
    },
    {
      name: 'modules-never-import-ops-cli-or-composition',
      severity: 'error',
      from: { path: '^src/modules/' },
      to: { path: `^src/(ops|metrics|cli)/|${composition}` },
    },
    {
      name: 'ops-never-imports-cli-or-composition',
      severity: 'error',
      from: { path: '^src/(ops|metrics)/' },
      to: { path: `^src/cli/|${composition}` },
    },
    {
      name: 'composition-never-imports-cli',
      severity: 'error',
      from: { path: composition },
      to: { path: '^src/cli/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(node_modules|dist)/' },
    // Type-only imports are dependencies too: a cycle through types still couples the files.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js', '.mjs', '.cjs', '.json'] },
  },
};
