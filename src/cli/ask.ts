import { input } from '@inquirer/prompts';
import type { z } from 'zod';
import { CliError } from './errors.js';

/** Whether a command may prompt, and if not, why: the reason goes into the error naming what is missing. */
export type AskMode = { interactive: true } | { interactive: false; why: string };

/** A flag's value checked by `schema`; a bad one is a one-line error naming the flag. */
export function checkedFlag<S extends z.ZodType>(schema: S, value: string, flag: string): z.output<S> {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new CliError(`${flag} ${parsed.error.issues[0]!.message} (got "${value}")`);
  return parsed.data;
}

export interface Question<S extends z.ZodType> {
  /** The flag's value, if it was given: then nothing is asked. */
  given: string | undefined;
  flag: string;
  message: string;
  schema: S;
  /** Taken when nothing may be asked, and offered as the answer when asking; without it the flag is required. */
  fallback?: string;
}

/**
 * A setting from its flag, or asked on a terminal when the flag is missing (never with --yes or
 * without a TTY: then the fallback, or an error naming the flag). Flags and answers pass the same
 * schema, so a bad answer is refused at the prompt and a bad flag before anything is written.
 */
export async function askUnlessGiven<S extends z.ZodType>(mode: AskMode, question: Question<S>): Promise<z.output<S>> {
  const { given, flag, message, schema, fallback } = question;
  if (given !== undefined) return checkedFlag(schema, given, flag);
  if (!mode.interactive) {
    if (fallback === undefined) throw new CliError(`${flag} is required (${mode.why})`);
    return checkedFlag(schema, fallback, flag);
  }
  const answer = await input({
    message,
    default: fallback,
    validate: (value) => {
      const parsed = schema.safeParse(value.trim());
      return parsed.success || parsed.error.issues[0]!.message;
    },
  });
  return checkedFlag(schema, answer.trim(), flag);
}
