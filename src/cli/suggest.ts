import type { Command } from 'commander';
import { CliError } from './errors.js';

/** Edit distance (insertions, deletions, substitutions) between two short words. */
function distance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, index) => index);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    previous = current;
  }
  return previous[b.length]!;
}

/** The name closest to `word` (a typo or a prefix of it), if any is close enough to be meant. */
export function closestName(word: string, names: string[]): string | undefined {
  let best: { name: string; score: number } | undefined;
  for (const name of names) {
    const score = name.startsWith(word) ? 0 : distance(word, name);
    if (score <= Math.max(1, Math.floor(name.length / 3)) && (!best || score < best.score)) best = { name, score };
  }
  return best?.name;
}

/**
 * For a command that both does something and has subcommands (`backup`, `migrate`): a word after
 * it is a mistyped subcommand, answered with the closest one instead of "too many arguments".
 * The command must allow excess arguments so that its action sees the word.
 */
export function refuseUnknownSubcommand(command: Command): void {
  const [word] = command.args;
  if (word === undefined) return;
  const closest = closestName(word, command.commands.map((sub) => sub.name()));
  throw new CliError(
    `unknown command 'chatd ${command.name()} ${word}'`,
    closest ? `did you mean 'chatd ${command.name()} ${closest}'?` : `run 'chatd ${command.name()} --help' for its commands`,
  );
}
