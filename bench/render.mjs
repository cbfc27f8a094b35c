#!/usr/bin/env node
// `node bench/render.mjs [docs/benchmarks.json]`: writes the report and chart again from saved raw
// data, for when the report's wording or checks change after a long run.
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { renderReport } from './lib/report.mjs';

const json = path.resolve(process.argv[2] ?? 'docs/benchmarks.json');
const results = JSON.parse(readFileSync(json, 'utf8'));
const base = json.replace(/\.json$/, '');
const argv = results.mode === 'quick' ? ['--quick'] : [];
const { markdown, svg } = renderReport(results, { svgName: `${path.basename(base)}.svg`, argv });
writeFileSync(`${base}.svg`, `${svg}\n`);
writeFileSync(`${base}.md`, markdown);
console.error(`bench: wrote ${path.relative(process.cwd(), base)}.md and .svg from ${path.relative(process.cwd(), json)}`);
