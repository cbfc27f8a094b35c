import { z } from 'zod';
import { objectIdString, pageLimit, pageNumber } from '../../schemas.js';

const trimmed = (min: number, max: number, what: string) =>
  z.string().trim().min(min, `${what} must not be empty`).max(max, `${what} must be at most ${max} characters`);

export const CreateRoomSchema = z.strictObject({
  name: trimmed(1, 100, 'name'),
  type: z.enum(['public', 'private']),
  description: z.string().trim().max(500, 'description must be at most 500 characters').default(''),
});

export const DirectRoomSchema = z.strictObject({ userId: objectIdString });

export const AddMemberSchema = z.strictObject({
  userId: objectIdString,
  role: z.enum(['member', 'admin']).optional(),
});

/** null: follow RETENTION_DAYS; 0: keep forever; at most a hundred years. */
export const RoomRetentionSchema = z.strictObject({
  retentionDays: z.number({ error: 'must be a whole number of days or null' })
    .int('must be a whole number of days')
    .min(0, 'must be 0 (forever) or more')
    .max(36_500, 'must be at most 36500 days')
    .nullable(),
});

export const PageQuery = z.strictObject({ page: pageNumber.default(1), limit: pageLimit(50) });

export const JoinRoomEvent = z.strictObject({
  roomId: objectIdString,
  /** The newest message the client has: replay what came after it, and what changed since. */
  since: objectIdString.optional(),
});

export const LeaveRoomEvent = z.strictObject({ roomId: objectIdString });

/** `username` is what the spec's clients send; it is never trusted, the relay names the sender itself. */
export const TypingEvent = z.strictObject({ roomId: objectIdString, isTyping: z.boolean().default(true), username: z.string().max(100).optional() });

export type CreateRoomInput = z.infer<typeof CreateRoomSchema>;
export type AddMemberInput = z.infer<typeof AddMemberSchema>;
export type RoomRetentionInput = z.infer<typeof RoomRetentionSchema>;
export type PageInput = z.infer<typeof PageQuery>;
