import { randomBytes } from 'node:crypto';
import { hash, verify } from '@node-rs/bcrypt';
import { z } from 'zod';

/** bcrypt reads at most this many bytes of a password and silently ignores the rest. */
export const PASSWORD_MAX_BYTES = 72;

const withinBcryptLimit = (value: string) => Buffer.byteLength(value, 'utf8') <= PASSWORD_MAX_BYTES;
const tooLong = `must be at most ${PASSWORD_MAX_BYTES} bytes (UTF-8): bcrypt would ignore the rest`;

/** A password someone presents (login, current password): any content, but never over bcrypt's limit. */
export const presentedPassword = z.string().min(1, 'is required').refine(withinBcryptLimit, tooLong);

/** The policy for a new password: 8+ characters with upper, lower, digit and special, within bcrypt's limit. */
export const newPassword = z
  .string()
  .min(8, 'must be at least 8 characters')
  .refine(withinBcryptLimit, tooLong)
  .refine((value) => /\p{Lu}/u.test(value), 'must contain an upper-case letter')
  .refine((value) => /\p{Ll}/u.test(value), 'must contain a lower-case letter')
  .refine((value) => /\p{Nd}/u.test(value), 'must contain a digit')
  .refine((value) => /[^\p{L}\p{Nd}\s]/u.test(value), 'must contain a special character (not a letter, digit or space)');

/** A random password that meets the policy (`chatd admin reset-password --generate`, the admin API's reset). */
export function generatePassword(): string {
  return `${randomBytes(15).toString('base64url')}-Aa9`;
}

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
