import { z } from 'zod';

// Field schemas shared by the accounts endpoints, the admin API and the CLI. Every object schema
// is strict: unknown fields (`role`, `isPremium`, `__proto__`, `$where`) are refused, never stored.

export const username = z
  .string()
  .regex(/^[A-Za-z0-9_.-]{3,32}$/, 'must be 3-32 letters, digits, "_", "." or "-"');

/** E-mail, trimmed and lower-cased: unique case-insensitively because the stored form is lower-case. */
export const email = z
  .string()
  .max(254, 'must be at most 254 characters')
  .transform((value) => value.trim().toLowerCase())
  .pipe(z.email('must be an e-mail address'));

const httpUrl = z
  .string()
  .max(2048, 'must be at most 2048 characters')
  .refine((value) => {
    try {
      const url = new URL(value);
      return (url.protocol === 'http:' || url.protocol === 'https:') && url.hostname !== '';
    } catch {
      return false;
    }
  }, 'must be an http:// or https:// URL');

export const objectIdString = z.string().regex(/^[0-9a-fA-F]{24}$/, 'must be a 24-character hexadecimal id');

export const UserIdParams = z.strictObject({ id: objectIdString });
export const TargetUserParams = z.strictObject({ userId: objectIdString });

export const ProfileUpdate = z
  .strictObject({
    bio: z.string().max(500, 'must be at most 500 characters').optional(),
    location: z.string().max(100, 'must be at most 100 characters').optional(),
    website: z.union([z.literal(''), httpUrl]).optional(),
    /** An image URL; empty resets to the generated avatar. */
    avatar: z.union([z.literal(''), httpUrl]).optional(),
    settings: z
      .strictObject({
        theme: z.enum(['light', 'dark']).optional(),
        notifications: z.boolean().optional(),
        encryption: z.boolean().optional(),
        notifyMessages: z.enum(['all', 'direct', 'none']).optional(),
        notifyCalls: z.boolean().optional(),
        notifySound: z.boolean().optional(),
      })
      .optional(),
  })
  .refine((update) => Object.keys(update).length > 0, 'give at least one field to change');
export type ProfileUpdate = z.infer<typeof ProfileUpdate>;

const page = z.coerce.number({ error: 'must be a number' }).int('must be a whole number').min(1, 'must be at least 1').max(10_000).default(1);
const limit = z.coerce.number({ error: 'must be a number' }).int('must be a whole number').min(1, 'must be at least 1').max(100, 'must be at most 100').default(20);

export const UserSearchQuery = z.strictObject({
  search: z.string().max(64, 'must be at most 64 characters').optional(),
  page,
  limit,
});
export type UserSearchQuery = z.infer<typeof UserSearchQuery>;

export const AdminUserListQuery = UserSearchQuery;

export const RoleBody = z.strictObject({ role: z.enum(['user', 'admin']) });
