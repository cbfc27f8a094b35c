import Router from '@koa/router';
import { basename } from 'node:path';
import type { ChatdMiddleware, ChatdState } from '../../http/context.js';
import { input, validate } from '../../http/validate.js';
import { IdParams } from '../../schemas.js';
import type { FilesService } from './service.js';
import type { FileStorage } from './storage.js';
import { receiveUpload, uploadedFile } from './upload.js';

export interface FilesRoutesDeps {
  files: FilesService;
  storage: FileStorage;
  requireAuth: ChatdMiddleware;
  maxUploadBytes: number;
  /** Refuses uploads at once while the disk is full (STORAGE_FULL). */
  space?: { assertWritable(): void };
}

/** POST /api/files (multipart, field `file`) and GET /api/files/:id. */
export function filesRoutes({ files, storage, requireAuth, maxUploadBytes, space }: FilesRoutesDeps): Router<ChatdState> {
  const router = new Router<ChatdState>();

  // Rate and quota are checked before the bytes are read, so a refused upload writes nothing.
  const admit: ChatdMiddleware = async (ctx, next) => {
    space?.assertWritable();
    await files.admit(ctx.state.principal!.userId);
    await next();
  };

  router.post('/api/files', requireAuth, admit, receiveUpload(storage, maxUploadBytes), async (ctx) => {
    const upload = uploadedFile(ctx);
    const file = await files.accept(ctx.state.principal!.userId, {
      storedName: basename(upload.filepath),
      originalName: upload.originalFilename,
      size: upload.size,
      sha256: upload.hash ?? '',
    });
    ctx.status = 201;
    ctx.body = { success: true, file };
  });

  router.get('/api/files/:id', requireAuth, validate({ params: IdParams }), async (ctx) => {
    const { params } = input<unknown, unknown, { id: string }>(ctx);
    const { file, inline, stream } = await files.open(params.id, ctx.state.principal!.userId);
    ctx.type = file.mimeType;
    ctx.length = file.fileSize;
    ctx.attachment(file.fileName, { type: inline ? 'inline' : 'attachment' });
    ctx.set('X-Content-Type-Options', 'nosniff');
    // A private upload: nothing keeps a copy (a shared computer's disk cache after sign-out included).
    ctx.set('Cache-Control', 'private, no-store');
    ctx.body = stream;
  });

  return router;
}
