import { describe, expect, it } from 'vitest';
import { accountWords, guessability, passwordProblem } from '../../src/modules/auth/passwords.js';

describe('the new-password policy (CLI prompts and REST bodies share it)', () => {
  it('refuses Password1!, saying it is a common password with the usual changes', () => {
    expect(passwordProblem('Password1!')).toMatch(/^password is too easy to guess \(about 10\^\d+ guesses would find it\): This is similar to a commonly used password\./);
  });

  it('keeps the composition rule first, and says only that when it fails', () => {
    expect(passwordProblem('weak')).toBe('password must be at least 8 characters, must contain an upper-case letter, must contain a digit, must contain a special character (not a letter, digit or space)');
  });

  it('accepts a password that is hard to guess, and random ones like `chatd admin` generates', () => {
    expect(passwordProblem('Violet-gull-Lantern9')).toBeUndefined();
    expect(passwordProblem('kQ2v_9xLr-Tb0wZ3mY7d-Aa9')).toBeUndefined();
  });

  it('takes the account\'s own name and e-mail as guessable words', () => {
    const words = accountWords({ username: 'marigold_baker', email: 'marigold.baker@example.test' });
    expect(words).toEqual(expect.arrayContaining(['marigold_baker', 'marigold', 'baker', 'example', 'test']));
    expect(guessability('Marigold_baker7!')).toBeUndefined();
    expect(guessability('Marigold_baker7!', words)).toMatch(/^is too easy to guess/);
  });
});
