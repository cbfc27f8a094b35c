import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import Router from '@koa/router';
import type { Config } from '../config/load.js';
import type { ChatdContext, ChatdMiddleware, ChatdState } from './context.js';

/** Where `npm run setup` puts the built web app (web/dist in the package). */
export const WEB_APP_DIR = fileURLToPath(new URL('../../web/dist/', import.meta.url));

/** Paths the web app never answers: they belong to the API, probes and the hub's forwards. */
const SERVER_PATHS = /^\/(api|healthz|readyz|metrics|socket\.io|ws)(\/|$)/;

const contentTypes: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.webmanifest': 'application/manifest+json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};
const compressible = new Set(['.html', '.js', '.css', '.json', '.webmanifest', '.svg', '.txt']);

interface StaticFile {
  body: Buffer;
  gzip: Buffer | undefined;
  type: string;
  etag: string;
  /** Vite names files under /assets/ by content hash: they never change, so browsers keep them. */
  immutable: boolean;
}

/** Whether `npm run setup` built the web app. */
export function webAppBuilt(dir: string = WEB_APP_DIR): boolean {
  return existsSync(join(dir, 'index.html'));
}

/**
 * The built app, read into memory once at start-up: a few hundred kilobytes, and serving from a map
 * means a request path is only ever a key, never a file-system path (no traversal to guard).
 */
export function loadWebApp(dir: string = WEB_APP_DIR): Map<string, StaticFile> | undefined {
  if (!webAppBuilt(dir)) return undefined;
  const files = new Map<string, StaticFile>();
  const walk = (folder: string) => {
    for (const name of readdirSync(folder)) {
      const path = join(folder, name);
      if (statSync(path).isDirectory()) {
        walk(path);
        continue;
      }
      const extension = extname(name);
      const body = readFileSync(path);
      const urlPath = `/${relative(dir, path).split(sep).join('/')}`;
      files.set(urlPath, {
        body,
        gzip: compressible.has(extension) && body.length > 512 ? gzipSync(body, { level: 9 }) : undefined,
        type: contentTypes[extension] ?? 'application/octet-stream',
        etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`,
        immutable: urlPath.startsWith('/assets/'),
      });
    }
  };
  walk(dir);
  return files;
}

/**
 * The hub's address as the browser that loaded the page should dial it. Behind a reverse proxy
 * (TRUST_PROXY) the shipped proxy templates route /ws on the page's own origin; without one the
 * hub listens on WS_PORT of the host the page came from.
 */
export function hubUrlFor(ctx: ChatdContext, config: Config): string {
  const scheme = ctx.protocol === 'https' ? 'wss' : 'ws';
  return config.TRUST_PROXY ? `${scheme}://${ctx.host}/ws` : `${scheme}://${ctx.hostname}:${config.WS_PORT}/ws`;
}

/**
 * The page's Content Security Policy: everything from this origin only, no inline script or style,
 * the hub named in connect-src, blob: for local previews of files about to be uploaded and for
 * call media.
 */
function appPolicy(hubUrl: string): string {
  const hubOrigin = new URL(hubUrl.replace(/^ws/, 'http')).origin.replace(/^http/, 'ws');
  return [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data: blob:",
    "media-src 'self' blob:",
    "font-src 'self'",
    `connect-src 'self' ${hubOrigin}`,
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join('; ');
}

/**
 * Serves the web app at `/`: its files by exact path, and index.html for any other extension-less
 * path, so client routes (/rooms/..., /reset-password, /oauth/done) load the app.
 */
export function webAppMiddleware(config: Config, files: Map<string, StaticFile>): ChatdMiddleware {
  const index = files.get('/index.html')!;
  return async (ctx, next) => {
    if ((ctx.method !== 'GET' && ctx.method !== 'HEAD') || SERVER_PATHS.test(ctx.path)) return next();
    const lastSegment = ctx.path.slice(ctx.path.lastIndexOf('/') + 1);
    const file = files.get(ctx.path) ?? (lastSegment.includes('.') ? undefined : index);
    if (!file) return next();
    ctx.status = 200;
    ctx.type = file.type;
    ctx.set('ETag', file.etag);
    ctx.set('Cache-Control', file.immutable ? 'public, max-age=31536000, immutable' : 'no-cache');
    ctx.vary('Accept-Encoding');
    if (file === index) ctx.set('Content-Security-Policy', appPolicy(hubUrlFor(ctx, config)));
    if (ctx.get('if-none-match').split(/\s*,\s*/).includes(file.etag)) {
      ctx.status = 304;
      return;
    }
    if (file.gzip && ctx.acceptsEncodings('gzip', 'identity') === 'gzip') {
      ctx.set('Content-Encoding', 'gzip');
      ctx.body = file.gzip;
    } else {
      ctx.body = file.body;
    }
  };
}

/** What the web app asks the server before it starts: where the hub is and the limits it shows. */
export function webClientRoutes(config: Config): Router<ChatdState> {
  const router = new Router<ChatdState>();
  router.get('/api/client-config', (ctx) => {
    ctx.body = { success: true, hubUrl: hubUrlFor(ctx, config), maxUploadBytes: config.MAX_UPLOAD_BYTES };
  });
  return router;
}
