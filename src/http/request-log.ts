import { randomUUID } from 'node:crypto';
import type { Logger } from '../logger.js';
import type { ChatdMiddleware } from './context.js';

const incomingId = /^[\w.:-]{1,64}$/;

/** Gives every request an id (echoed as X-Request-Id) and logs one line when it finishes. */
export function requestLog(logger: Logger): ChatdMiddleware {
  return async (ctx, next) => {
    const header = ctx.get('x-request-id');
    const requestId = incomingId.test(header) ? header : randomUUID();
    const started = process.hrtime.bigint();
    ctx.state.requestId = requestId;
    ctx.state.log = logger.child({ reqId: requestId });
    ctx.set('X-Request-Id', requestId);
    try {
      await next();
    } finally {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      const line = { method: ctx.method, path: ctx.path, status: ctx.status, ms: Math.round(ms * 10) / 10, ip: ctx.ip, userId: ctx.state.principal?.userId };
      if (ctx.status >= 500) ctx.state.log.error(line, 'request');
      else ctx.state.log.info(line, 'request');
    }
  };
}
