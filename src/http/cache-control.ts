import type { ChatdMiddleware } from './context.js';

/**
 * `Cache-Control: no-store` on every response whose handler did not choose its own caching.
 * API answers carry tokens (login, refresh, OAuth) and personal data (profiles, messages, files),
 * which must not stay in a browser's or a shared proxy's cache after the user signs out; error
 * answers included. A route that serves something public and stable (the generated avatar, the
 * web app's static assets) sets its own header and keeps it.
 */
export const noStoreByDefault: ChatdMiddleware = async (ctx, next) => {
  try {
    await next();
  } finally {
    if (!ctx.response.get('Cache-Control')) ctx.set('Cache-Control', 'no-store');
  }
};
