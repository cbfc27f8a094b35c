import { AppError, codeOfStatus, describeError, infrastructureFailure, RateLimited, StorageFull, Unavailable } from '../errors.js';
import type { ChatdContext, ChatdMiddleware } from './context.js';

function send(ctx: ChatdContext, error: AppError): void {
  ctx.status = error.status;
  if (error instanceof RateLimited || error instanceof Unavailable || error instanceof StorageFull) ctx.set('Retry-After', String(error.retryAfterSeconds));
  ctx.body = { success: false, error: describeError(error) };
}

/** Maps thrown errors onto the envelope once: typed errors keep their status, the rest are 500s. */
export const errorEnvelope: ChatdMiddleware = async (ctx, next) => {
  try {
    await next();
    if (ctx.status === 404 && ctx.body === undefined) {
      send(ctx, new AppError('NOT_FOUND', `No route for ${ctx.method} ${ctx.path}`));
    } else if (ctx.status === 405 && ctx.body === undefined) {
      send(ctx, new AppError('METHOD_NOT_ALLOWED', `${ctx.method} is not allowed on ${ctx.path}`));
    }
  } catch (caught) {
    if (caught instanceof AppError) {
      send(ctx, caught);
      return;
    }
    const error = caught as { status?: number; statusCode?: number; expose?: boolean; message?: string; type?: string };
    const status = error.status ?? error.statusCode;
    // Errors raised by Koa's body parser and router carry a status and are safe to describe.
    if (status === 413) return send(ctx, new AppError('PAYLOAD_TOO_LARGE', 'Request body is too large'));
    if (status === 415) return send(ctx, new AppError('UNSUPPORTED_MEDIA_TYPE', 'Unsupported content type'));
    // A full disk or an unanswering database wins over the status a body parser gave its failure.
    const infrastructure = infrastructureFailure(caught);
    if (infrastructure) {
      ctx.state.log.warn({ err: caught }, infrastructure.message);
      return send(ctx, infrastructure);
    }
    if (status && status >= 400 && status < 500 && error.expose) {
      // A client error the table has no code for (418, 422, ...) is answered as a 400.
      return send(ctx, new AppError(codeOfStatus(status) ?? 'VALIDATION_FAILED', error.message ?? 'Bad request'));
    }
    ctx.state.log.error({ err: caught }, 'unhandled error');
    send(ctx, new AppError('INTERNAL', 'Internal server error'));
  }
};
