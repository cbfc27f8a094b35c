#!/usr/bin/env node
// Rewrites .env.example from the configuration schema (needs `npm run build` first).
import { writeFileSync } from 'node:fs';
const { renderEnvExample } = await import('../dist/config/example.js');
writeFileSync(new URL('../.env.example', import.meta.url), renderEnvExample());
console.log('wrote .env.example');
