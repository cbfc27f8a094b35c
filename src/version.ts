import { readFileSync } from 'node:fs';

const manifest = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };

/** chatd's version, from package.json (dist/ and src/ both sit one level below it). */
export const version: string = manifest.version;

/** The package root, where templates/ and tools/ live. */
export const packageRoot: URL = new URL('../', import.meta.url);
