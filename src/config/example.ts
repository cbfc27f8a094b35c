import { configSchema } from './schema.js';

interface SchemaShape {
  shape: Record<string, { description?: string; def?: { defaultValue?: unknown; innerType?: unknown }; _zod?: { def?: { defaultValue?: unknown } } }>;
}

/** Renders `.env.example` from the schema: a comment per variable, then the variable with its default. */
export function renderEnvExample(): string {
  const shape = (configSchema as unknown as { _zod: { def: { shape?: SchemaShape['shape']; in?: { _zod: { def: { shape: SchemaShape['shape'] } } } } } })._zod.def;
  const fields = shape.shape ?? shape.in!._zod.def.shape;
  const lines = [
    '# chatd configuration. Copy to .env (or run `chatd init`, which generates secrets for you).',
    '# Every variable may also come from the environment, which wins over .env.',
    '# Generated from src/config/schema.ts by `npm run env:example`; edit the schema, not this file.',
    '',
  ];
  for (const [name, field] of Object.entries(fields)) {
    const description = field.description ?? '';
    const defaultValue = (field as { _zod?: { def?: { defaultValue?: unknown } } })._zod?.def?.defaultValue;
    for (const line of description.match(/.{1,98}(\s|$)/g) ?? [description]) lines.push(`# ${line.trim()}`);
    const shown = defaultValue === undefined ? '' : Array.isArray(defaultValue) ? defaultValue.join(',') : String(defaultValue);
    lines.push(`${name}=${shown}`, '');
  }
  return lines.join('\n');
}
