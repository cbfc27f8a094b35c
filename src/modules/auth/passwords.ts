import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { hash, verify } from '@node-rs/bcrypt';
import type { TranslationKeys, ZxcvbnFactory } from '@zxcvbn-ts/core';
import { z } from 'zod';

/** bcrypt reads at most this many bytes of a password and silently ignores the rest. */
export const PASSWORD_MAX_BYTES = 72;

const withinBcryptLimit = (value: string) => Buffer.byteLength(value, 'utf8') <= PASSWORD_MAX_BYTES;
const tooLong = `must be at most ${PASSWORD_MAX_BYTES} bytes (UTF-8): bcrypt would ignore the rest`;

/** A password someone presents (login, current password): any content, but never over bcrypt's limit. */
export const presentedPassword = z.string().min(1, 'is required').refine(withinBcryptLimit, tooLong);

/** The spec's composition rule: 8+ characters with upper, lower, digit and special, within bcrypt's limit. */
export const composedPassword = z
  .string()
  .min(8, 'must be at least 8 characters')
  .refine(withinBcryptLimit, tooLong)
  .refine((value) => /\p{Lu}/u.test(value), 'must contain an upper-case letter')
  .refine((value) => /\p{Ll}/u.test(value), 'must contain a lower-case letter')
  .refine((value) => /\p{Nd}/u.test(value), 'must contain a digit')
  .refine((value) => /[^\p{L}\p{Nd}\s]/u.test(value), 'must contain a special character (not a letter, digit or space)');

/**
 * The lowest zxcvbn score a new password needs. 3 means a guesser needs about 10^8 tries or
 * more: "Password1!" (a common password with the usual capital, digit and symbol) scores 1.
 */
export const MIN_PASSWORD_SCORE = 3;

const requireCjs = createRequire(import.meta.url);
let estimator: ZxcvbnFactory | undefined;

/**
 * zxcvbn-ts with its language-independent lists (about 30 000 common and breached passwords,
 * diceware words, keyboard layouts) and English feedback. Built on first use: loading the lists
 * costs about 0.15 s of CPU and 40 MB, which CLI commands and servers that never set a password
 * do not pay. The English word lists are left out on purpose: they make every check 10-100 times
 * slower (up to 0.1 s of blocked event loop) for little more protection against guessing.
 */
function passwordEstimator(): ZxcvbnFactory {
  if (!estimator) {
    const { ZxcvbnFactory: Factory } = requireCjs('@zxcvbn-ts/core') as typeof import('@zxcvbn-ts/core');
    const common = requireCjs('@zxcvbn-ts/language-common') as typeof import('@zxcvbn-ts/language-common');
    const translations = requireCjs('@zxcvbn-ts/language-en/dist/translations.cjs') as TranslationKeys;
    estimator = new Factory({ dictionary: common.dictionary, graphs: common.adjacencyGraphs, translations });
  }
  return estimator;
}

/**
 * Why a password is too easy to guess (zxcvbn's own warning and suggestions), or undefined when it
 * is not. `userInputs` are words of the account itself (its name, its e-mail), guessable as well.
 */
export function guessability(password: string, userInputs: string[] = []): string | undefined {
  const { score, guessesLog10, feedback } = passwordEstimator().check(password, userInputs);
  if (score >= MIN_PASSWORD_SCORE) return undefined;
  const why = [feedback.warning, ...feedback.suggestions].filter(Boolean).join(' ');
  return `is too easy to guess (about 10^${Math.max(0, Math.floor(guessesLog10))} guesses would find it)${why ? `: ${why}` : ''}`;
}

/** The words of an account a password must not be built from: its name and its e-mail's parts. */
export function accountWords(account: { username: string; email: string }): string[] {
  return [account.username, ...account.email.split(/[@.+_-]/)].filter((word) => word.length >= 3);
}

/** The policy for a new password: the spec's composition rule, then not easy to guess. */
export const newPassword = composedPassword.pipe(
  z.string().superRefine((value, ctx) => {
    const problem = guessability(value);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  }),
);

/** Why a candidate password fails the policy, or undefined when it passes (for the CLI's prompts). */
export function passwordProblem(candidate: string): string | undefined {
  const parsed = newPassword.safeParse(candidate);
  return parsed.success ? undefined : `password ${parsed.error.issues.map((issue) => issue.message).join(', ')}`;
}

/**
 * bcrypt hashing at the configured cost. Checking a password against an account that does not
 * exist (or has none) still runs one bcrypt comparison of the same cost, so an unknown e-mail and
 * a wrong password take the same time.
 */
export class PasswordHasher {
  private dummyHash: Promise<string> | undefined;

  constructor(private readonly cost: number) {}

  /** A hash of a random password at the same cost, made once on first use. */
  private get dummy(): Promise<string> {
    return (this.dummyHash ??= hash(randomBytes(18).toString('base64url'), this.cost));
  }

  /** Makes the comparison hash now, so the first login for an unknown e-mail is not the slow one. */
  warm(): void {
    void this.dummy;
  }

  hash(password: string): Promise<string> {
    return hash(password, this.cost);
  }

  /** Whether `password` matches `passwordHash`; false (after the same work) when there is no hash. */
  async verify(password: string, passwordHash: string | null): Promise<boolean> {
    if (passwordHash === null) {
      await verify(password, await this.dummy);
      return false;
    }
    try {
      return await verify(password, passwordHash);
    } catch {
      // A malformed stored hash is a failed login, not a 500 that tells the caller the account exists.
      await verify(password, await this.dummy);
      return false;
    }
  }
}
