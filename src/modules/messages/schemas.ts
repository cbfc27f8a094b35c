import { z } from 'zod';
import { objectIdString, pageLimit, pageNumber } from '../../schemas.js';

// The `v` flag (Node 20) knows emoji sequences; built at run time because tsc targets ES2022.
const rgiEmoji = new RegExp('^\\p{RGI_Emoji}$', 'v');

/** One emoji as Unicode defines them (with skin tones, flags, ZWJ families); a bare text-style symbol gets its emoji presentation. */
export const emoji = z
  .string()
  .min(1)
  .max(32)
  .transform((value) => (rgiEmoji.test(value) ? value : `${value}\uFE0F`))
  .refine((value) => rgiEmoji.test(value), 'must be a single emoji');

export const content = z.string().trim().min(1, 'content must not be empty').max(10_000, 'content must be at most 10000 characters');

export const SendMessageSchema = z.strictObject({
  roomId: objectIdString,
  content,
  messageType: z.enum(['text', 'image', 'file', 'voice', 'video']).optional(),
  clientMsgId: z.string().min(1).max(64).regex(/^[\w.:-]+$/, 'must be letters, digits, _ . : or -').optional(),
  encrypted: z.boolean().default(false),
  /**
   * The spec's clients send `null` for "no attachment", and may echo back the whole file object
   * the upload answered; only `fileId` is read, the rest comes from the stored file.
   */
  fileAttachment: z
    .strictObject({
      fileId: objectIdString,
      fileName: z.string().max(255).optional(),
      fileSize: z.number().nonnegative().optional(),
      fileUrl: z.string().max(2048).optional(),
      mimeType: z.string().max(255).optional(),
    })
    .nullable()
    .optional()
    .transform((value) => (value ? { fileId: value.fileId } : undefined)),
});

export const HistoryQuery = z
  .strictObject({
    roomId: objectIdString,
    page: pageNumber.default(1),
    limit: pageLimit(50),
    before: objectIdString.optional(),
    after: objectIdString.optional(),
  })
  .refine((query) => !(query.before && query.after), { message: 'use either before or after, not both', path: ['after'] });

/** Events the spec passes as a bare id also accept `{messageId}`. */
export const MessageRef = z.union([objectIdString, z.strictObject({ messageId: objectIdString })]).transform((value) => (typeof value === 'string' ? value : value.messageId));

export const ReactionEvent = z.strictObject({ messageId: objectIdString, emoji });

export const EditMessageEvent = z.strictObject({ messageId: objectIdString, content });

export type SendMessageInput = z.infer<typeof SendMessageSchema>;
export type HistoryInput = z.infer<typeof HistoryQuery>;
