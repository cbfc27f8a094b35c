#!/usr/bin/env node
// Renders the PNG icons of the web app manifest from favicon.svg with Debian's Chromium (never a
// downloaded browser). The PNGs are committed; run this again after changing the SVG:
//   node web/scripts/render-icons.mjs
import { readFileSync } from 'node:fs';
import { chromium } from 'playwright-core';

const publicDir = new URL('../public/', import.meta.url);
const svg = readFileSync(new URL('favicon.svg', publicDir), 'utf8');
// Maskable icons are cropped to a circle or squircle by the phone: a full-bleed background with the
// bubble well inside the central 80% circle (the "safe zone").
const maskable = svg.replace('rx="14"', 'rx="0"').replace('<path ', '<path transform="translate(6.4 6.4) scale(0.8)" ');

const icons = [
  { file: 'icons/icon-192.png', size: 192, source: svg },
  { file: 'icons/icon-512.png', size: 512, source: svg },
  { file: 'icons/maskable-512.png', size: 512, source: maskable },
  { file: 'icons/apple-touch-icon.png', size: 180, source: maskable },
];

const browser = await chromium.launch({ executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', args: ['--no-sandbox', '--disable-gpu'] });
try {
  for (const icon of icons) {
    const page = await browser.newPage({ viewport: { width: icon.size, height: icon.size } });
    const sized = icon.source.replace('<svg ', `<svg width="${icon.size}" height="${icon.size}" `);
    await page.setContent(`<!doctype html><style>html,body{margin:0;background:transparent}svg{display:block}</style>${sized}`);
    await page.screenshot({ path: new URL(icon.file, publicDir).pathname, omitBackground: true });
    await page.close();
    console.log(`wrote web/public/${icon.file}`);
  }
} finally {
  await browser.close();
}
