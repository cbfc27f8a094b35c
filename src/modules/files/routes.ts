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
}

/** POST /api/files (multipart, field `file`) and GET /api/files/:id. */
export function filesRoutes({ files, storage, requireAuth, maxUploadBytes }: FilesRoutesDeps): Router<ChatdState> {
  const router = new Router<ChatdState>();

  router.post('/api/files', requireAuth, receiveUpload(storage, maxUploadBytes), async (ctx) => {
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
    ctx.set('Cache-Control', 'private, no-cache');
    ctx.body = stream;
  });

  return router;
}
