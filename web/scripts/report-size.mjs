#!/usr/bin/env node
// Reports what a browser downloads on the first load (the JS and CSS index.html references, gzipped)
// and fails the build beyond the budget the issue set: 150 KB.
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';

const BUDGET_BYTES = 150 * 1024;
const dist = new URL('../dist/', import.meta.url);
const html = readFileSync(new URL('index.html', dist), 'utf8');
const assets = [...html.matchAll(/(?:src|href)="\/(assets\/[^"]+\.(?:js|css))"/g)].map((match) => match[1]);
let total = 0;
for (const asset of assets) {
  const size = gzipSync(readFileSync(new URL(asset, dist)), { level: 9 }).length;
  total += size;
  console.log(`  ${asset}  ${(size / 1024).toFixed(1)} KB gzipped`);
}
console.log(`web app initial load: ${(total / 1024).toFixed(1)} KB gzipped (JS + CSS), budget ${BUDGET_BYTES / 1024} KB`);
if (total > BUDGET_BYTES) {
  console.error('the web app exceeds its initial-load budget');
  process.exit(1);
}
