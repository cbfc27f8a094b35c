import { z } from 'zod';
import { email, username } from '../users/schemas.js';
import { accountWords, composedPassword, guessability, newPassword, presentedPassword } from './passwords.js';

// One strict schema per body: operator objects (`{"$gt": ""}`), arrays and numbers where strings
// belong, `__proto__`/`constructor` and any unknown field are refused with 400 before a handler runs.

const token = z.string().min(1, 'is required').max(4096, 'is too long');

const confirmed = <T extends { newPassword: string; confirmPassword: string }>(body: T, ctx: z.RefinementCtx) => {
  if (body.newPassword !== body.confirmPassword) ctx.addIssue({ code: 'custom', path: ['confirmPassword'], message: 'must match newPassword' });
};

/** A new account's password is also checked against its own name and e-mail, guessable words too. */
export const RegisterBody = z.strictObject({ username, email, password: composedPassword }).superRefine((body, ctx) => {
  // Only a password that passed the composition rule, beside a name and an e-mail that are text.
  if (typeof body.username !== 'string' || typeof body.email !== 'string' || !composedPassword.safeParse(body.password).success) return;
  const problem = guessability(body.password, accountWords(body));
  if (problem) ctx.addIssue({ code: 'custom', path: ['password'], message: problem });
});
export type RegisterBody = z.infer<typeof RegisterBody>;

export const LoginBody = z.strictObject({ email, password: presentedPassword });
export type LoginBody = z.infer<typeof LoginBody>;

/** The refresh token comes in the body, or from the refresh cookie when the body leaves it out. */
export const RefreshBody = z.strictObject({ refreshToken: token.optional() });
export const LogoutBody = RefreshBody;

export const PasswordChangeBody = z
  .strictObject({ currentPassword: presentedPassword, newPassword, confirmPassword: z.string().max(4096) })
  .superRefine(confirmed);
export type PasswordChangeBody = z.infer<typeof PasswordChangeBody>;

export const ForgotPasswordBody = z.strictObject({ email });

export const ResetPasswordBody = z
  .strictObject({ token: z.string().regex(/^[A-Za-z0-9_-]{20,128}$/, 'is not a reset token'), newPassword, confirmPassword: z.string().max(4096) })
  .superRefine(confirmed);
export type ResetPasswordBody = z.infer<typeof ResetPasswordBody>;

export const OAuthParams = z.strictObject({ provider: z.enum(['google', 'github']) });

/** Providers add their own parameters to the callback (scope, authuser, iss...); those are dropped, not refused. */
export const OAuthCallbackQuery = z.object({
  code: z.string().min(1).max(2048).optional(),
  state: z.string().min(1).max(512).optional(),
  error: z.string().max(256).optional(),
  error_description: z.string().max(1024).optional(),
});
export type OAuthCallbackQuery = z.infer<typeof OAuthCallbackQuery>;
