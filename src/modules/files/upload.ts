import { createWriteStream, type WriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { koaBody } from 'koa-body';
import { Invalid, isStorageFullError, PayloadTooLarge, StorageFull, UnsupportedMediaType } from '../../errors.js';
import type { ChatdMiddleware } from '../../http/context.js';
import type { FileStorage } from './storage.js';

/** The file receiveUpload wrote, as koa-body describes it. */
export interface UploadedFile {
  filepath: string;
  originalFilename: string | null;
  size: number;
  hash?: string | null;
}

/** The file of a request that passed receiveUpload; a 400 when the multipart body had none in the field "file". */
export function uploadedFile(ctx: Parameters<ChatdMiddleware>[0]): UploadedFile {
  // koa-body augments its own copy of Koa's types, so its `files` is read through a cast.
  const received = (ctx.request as { files?: Record<string, UploadedFile | UploadedFile[]> }).files?.file;
  const upload = Array.isArray(received) ? received[0] : received;
  if (!upload) throw new Invalid('Send the file in the multipart field "file"', [{ path: 'file', message: 'required' }]);
  return upload;
}

/** Room for the multipart envelope around the file (boundaries, part headers) when judging Content-Length. */
const MULTIPART_OVERHEAD = 64 * 1024;

async function discard(written: { path: string; stream: WriteStream }[]): Promise<void> {
  for (const { path, stream } of written) {
    // Wait until the stream has let go of the file, or its late open would create it again. A write
    // still in flight fails with ERR_STREAM_DESTROYED: expected here, and not the upload's answer
    // (events.once would reject on it and leave the partial file behind).
    if (!stream.closed) {
      const closed = new Promise<void>((resolve) => stream.once('close', () => resolve()));
      stream.on('error', () => undefined);
      stream.destroy();
      await closed;
    }
    await rm(path, { force: true });
  }
}

// formidable's error codes for an upload that is too big, and for one with too many parts.
const FILE_TOO_BIG = new Set([1009, 1016]);
const TOO_MANY_PARTS = new Set([1006, 1007, 1015]);

function uploadError(error: unknown, maxBytes: number): Error {
  const code = (error as { code?: unknown }).code;
  if (isStorageFullError(error)) return new StorageFull();
  if (typeof code === 'number' && FILE_TOO_BIG.has(code)) return new PayloadTooLarge(`The file is larger than ${maxBytes} bytes`);
  if (typeof code === 'number' && TOO_MANY_PARTS.has(code)) return new Invalid('Send exactly one file, in the field "file"');
  return new Invalid(`The upload could not be read: ${(error as Error).message}`);
}

/**
 * Parses a multipart upload of one file (field `file`) straight into storage under a generated
 * name. Over `maxBytes` it stops reading, answers 413 and removes what was written; when a later
 * step fails the file is removed as well, so a failed upload leaves nothing on disk.
 */
export function receiveUpload(storage: FileStorage, maxBytes: number): ChatdMiddleware {
  return async (ctx, next) => {
    if (!ctx.is('multipart/form-data')) throw new UnsupportedMediaType('Upload with Content-Type multipart/form-data and the file in field "file"');
    const declared = Number(ctx.get('content-length'));
    if (Number.isFinite(declared) && declared > maxBytes + MULTIPART_OVERHEAD) throw new PayloadTooLarge(`The file is larger than ${maxBytes} bytes`);

    const written: { path: string; stream: WriteStream }[] = [];
    const parse = koaBody({
      multipart: true,
      json: false,
      urlencoded: false,
      text: false,
      formidable: {
        uploadDir: storage.dir,
        filename: () => storage.newName(),
        maxFiles: 1,
        maxFileSize: maxBytes,
        maxTotalFileSize: maxBytes,
        maxFields: 10,
        maxFieldsSize: 64 * 1024,
        allowEmptyFiles: false,
        minFileSize: 1,
        hashAlgorithm: 'sha256',
        fileWriteStreamHandler: (file) => {
          const path = (file as unknown as { filepath: string }).filepath;
          const stream = createWriteStream(path, { flags: 'wx', mode: 0o600 });
          written.push({ path, stream });
          return stream;
        },
      },
    });
    try {
      await parse(ctx as never, async () => undefined);
    } catch (error) {
      await discard(written);
      throw uploadError(error, maxBytes);
    }
    try {
      await next();
    } catch (error) {
      await discard(written);
      throw error;
    }
  };
}
