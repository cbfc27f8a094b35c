/**
 * The server's rule for a new password (src/modules/auth/passwords.ts), shown as a checklist while
 * the user types. The server stays the judge: its answer is shown when it refuses.
 */
export const passwordRules: { label: string; test: (value: string) => boolean }[] = [
  { label: 'At least 8 characters', test: (value) => [...value].length >= 8 },
  { label: 'An upper-case letter', test: (value) => /\p{Lu}/u.test(value) },
  { label: 'A lower-case letter', test: (value) => /\p{Ll}/u.test(value) },
  { label: 'A digit', test: (value) => /\p{Nd}/u.test(value) },
  { label: 'A special character (not a letter, digit or space)', test: (value) => /[^\p{L}\p{Nd}\s]/u.test(value) },
  { label: 'At most 72 bytes', test: (value) => new TextEncoder().encode(value).length <= 72 },
];

/** The one rule only the server can judge (it knows the lists of common and breached passwords). */
export const serverOnlyRule = 'Not a common or easily guessed password (the server checks)';
