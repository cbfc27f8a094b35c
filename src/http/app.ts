import cors from '@koa/cors';
import Koa from 'koa';
import helmet from 'koa-helmet';
import type { Config } from '../config/load.js';
import type { Logger } from '../logger.js';
import { jsonBody } from './body.js';
import { noStoreByDefault } from './cache-control.js';
import type { ChatdMiddleware, ChatdState } from './context.js';
import { errorEnvelope } from './errors.js';
import { requestLog } from './request-log.js';
import { loadWebApp, webAppMiddleware, webClientRoutes } from './web-app.js';
import type Router from '@koa/router';

export interface HttpAppOptions {
  config: Config;
  logger: Logger;
  routers: Router[];
  /** The built web app served at `/`; undefined when it was not built. */
  webApp?: ReturnType<typeof loadWebApp>;
  /** Times requests by route and status (when METRICS_PORT is set). */
  metrics?: ChatdMiddleware;
}

/** The Koa application: logging, the error envelope, security headers, CORS, body limits, routes. */
export function createHttpApp({ config, logger, routers, webApp, metrics }: HttpAppOptions): Koa<ChatdState> {
  // Behind one trusted proxy the client address is the last X-Forwarded-For entry (the one the
  // proxy appended); entries before it come from the client and could be anything.
  const app = new Koa<ChatdState>({ proxy: config.TRUST_PROXY, maxIpsCount: 1 });
  // Exceptions are logged by the envelope middleware with the request id; Koa's own default
  // handler would print them a second time without it.
  app.silent = true;
  const allowed = new Set(config.CORS_ORIGIN);

  if (metrics) app.use(metrics);
  app.use(requestLog(logger.child({ component: 'http' })));
  // Outside the envelope, so error answers get the header too.
  app.use(noStoreByDefault);
  app.use(errorEnvelope);
  app.use(helmet({ contentSecurityPolicy: { directives: { defaultSrc: ["'none'"], imgSrc: ["'self'", 'data:'], frameAncestors: ["'none'"] } }, crossOriginResourcePolicy: { policy: 'same-site' } }));
  app.use(
    cors({
      origin: (ctx) => {
        const origin = ctx.get('Origin');
        return allowed.has('*') || allowed.has(origin) ? origin : '';
      },
      credentials: true,
      allowMethods: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'],
      allowHeaders: ['Content-Type', 'Authorization', 'X-CSRF-Token', 'X-Request-Id'],
      exposeHeaders: ['X-Request-Id', 'Retry-After'],
      maxAge: 600,
    }),
  );
  for (const middleware of jsonBody(config.JSON_BODY_LIMIT)) app.use(middleware);
  if (webApp) app.use(webAppMiddleware(config, webApp));
  for (const router of [...routers, webClientRoutes(config)]) {
    app.use(router.routes());
    app.use(router.allowedMethods());
  }
  return app;
}
