import { HttpMethodEnum, koaBody } from 'koa-body';
import { Invalid, PayloadTooLarge, UnsupportedMediaType } from '../errors.js';
import type { ChatdMiddleware } from './context.js';

function hasBody(ctx: Parameters<ChatdMiddleware>[0]): boolean {
  const length = ctx.get('content-length');
  return (length !== '' && length !== '0') || ctx.get('transfer-encoding') !== '';
}

/** JSON bodies everywhere (over the limit → 413); multipart is parsed only by the upload route. */
export function jsonBody(limitBytes: number): ChatdMiddleware[] {
  const requireKnownType: ChatdMiddleware = async (ctx, next) => {
    if (hasBody(ctx) && !ctx.is('application/json', 'multipart/form-data')) {
      throw new UnsupportedMediaType(`Send JSON (Content-Type: application/json); got ${ctx.get('content-type') || 'no Content-Type'}`);
    }
    await next();
  };
  const parse = koaBody({
    json: true,
    jsonStrict: true,
    jsonLimit: limitBytes,
    urlencoded: false,
    text: false,
    multipart: false,
    parsedMethods: [HttpMethodEnum.POST, HttpMethodEnum.PUT, HttpMethodEnum.PATCH, HttpMethodEnum.DELETE],
    onError: (error) => {
      const status = (error as { status?: number }).status;
      if (status === 413) throw new PayloadTooLarge(`Request body exceeds ${limitBytes} bytes`);
      if (status === 415) throw new UnsupportedMediaType();
      // co-body parses with @hapi/bourne, which refuses prototype-poisoning keys outright.
      if (/prototype property/.test((error as Error).message ?? '')) throw new Invalid('Request body contains a forbidden "__proto__" key', [{ path: '__proto__', message: 'is not allowed' }]);
      throw new Invalid('Request body is not valid JSON');
    },
  }) as unknown as ChatdMiddleware;
  return [requireKnownType, parse];
}
