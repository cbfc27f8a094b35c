import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { packageRoot } from '../version.js';

/** Reads `templates/<name>` and fills `{{KEY}}` placeholders; an unknown placeholder is a bug, so it throws. */
export function renderTemplate(name: string, values: Record<string, string>): string {
  const text = readFileSync(fileURLToPath(new URL(`templates/${name}`, packageRoot)), 'utf8');
  return text.replace(/\{\{([A-Z0-9_]+)\}\}/g, (_, key: string) => {
    const value = values[key];
    if (value === undefined) throw new Error(`template ${name} needs a value for ${key}`);
    return value;
  });
}
