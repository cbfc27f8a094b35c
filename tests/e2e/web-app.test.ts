import { readdirSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WEB_APP_DIR } from '../../src/http/web-app.js';
import { apiClient, type ApiClient } from '../support/api.js';
import { startChatd, type ChatdServer } from '../support/chatd.js';
import { until } from '../support/processes.js';
import { startGoogle } from '../support/oauth-providers.js';

// `npm test` builds the app first (npm run setup); these read what chatd serves from web/dist.
let server: ChatdServer;
let api: ApiClient;
let google: Awaited<ReturnType<typeof startGoogle>>;
let site: string;

beforeAll(async () => {
  google = await startGoogle();
  server = await startChatd({ env: google.env });
  api = apiClient(server.baseUrl);
  site = `http://localhost:${server.httpPort}`;
});
afterAll(async () => {
  await server?.stop();
  await google?.stop();
});

const get = (path: string, headers: Record<string, string> = {}) => fetch(`${site}${path}`, { headers, redirect: 'manual' });

describe('the web app at /', () => {
  it('ends the start-up with the line that says which address to open, once chatd is ready', async () => {
    const entries = () => server.logs.flatMap((line) => {
      try {
        return [JSON.parse(line) as { msg?: string; url?: string }];
      } catch {
        return [];
      }
    });
    const open = `open ${site} in a browser to start chatting`;
    await until('chatd says where to go', () => entries().some((entry) => entry.msg === open));
    const messages = entries().map((entry) => entry.msg);
    expect(entries().find((entry) => entry.msg === open)!.url).toBe(site);
    // The start-up's other lines (the caches, the message index) come before it, not after.
    const at = messages.indexOf(open);
    for (const startup of ['chatd is serving', 'memberships cached', 'block lists cached']) expect(messages.indexOf(startup), startup).toBeGreaterThanOrEqual(0);
    for (const [index, msg] of messages.entries()) {
      if (msg && /^(chatd is serving|memberships cached|block lists cached|(loaded|rebuilt) the message index)$/.test(msg)) expect(index, msg).toBeLessThan(at);
    }
    expect((await api.get('/readyz')).status).toBe(200);
  });

  it('serves the web app manifest and the icons it names, for adding chatd to a home screen', async () => {
    const html = await get('/').then((r) => r.text());
    expect(html).toContain('<link rel="manifest" href="/manifest.webmanifest" />');
    expect(html).toContain('<link rel="apple-touch-icon" href="/icons/apple-touch-icon.png" />');
    const response = await get('/manifest.webmanifest');
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^application\/manifest\+json/);
    const manifest = (await response.json()) as { name: string; start_url: string; display: string; icons: { src: string; sizes: string; type: string; purpose: string }[] };
    expect(manifest).toMatchObject({ name: 'chatd', start_url: '/', display: 'standalone' });
    // Android's install prompt wants a 192 and a 512 PNG; a maskable one fills the adaptive shapes.
    expect(manifest.icons.map((icon) => `${icon.sizes} ${icon.purpose}`)).toEqual(expect.arrayContaining(['192x192 any', '512x512 any', '512x512 maskable']));
    for (const icon of [...manifest.icons, { src: '/icons/apple-touch-icon.png', type: 'image/png', sizes: '180x180' }]) {
      const file = await get(icon.src);
      expect(file.status, icon.src).toBe(200);
      expect(file.headers.get('content-type'), icon.src).toBe(icon.type);
      const bytes = Buffer.from(await file.arrayBuffer());
      if (icon.type !== 'image/png') continue;
      // A PNG whose header has the size the manifest claims.
      expect(bytes.subarray(1, 4).toString(), icon.src).toBe('PNG');
      expect(`${bytes.readUInt32BE(16)}x${bytes.readUInt32BE(20)}`, icon.src).toBe(icon.sizes);
    }
  });

  it('serves index.html with a strict CSP that names the hub, and no inline script', async () => {
    const response = await get('/');
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/html/);
    expect(response.headers.get('cache-control')).toBe('no-cache');
    const csp = response.headers.get('content-security-policy')!;
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain(`connect-src 'self' ws://localhost:${server.wsPort}`);
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain('unsafe-inline');
    const html = await response.text();
    expect(html).toMatch(/<script type="module" crossorigin src="\/assets\/[^"]+\.js"><\/script>/);
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
  });

  it('answers client routes with index.html, and unknown files and API paths with the JSON 404', async () => {
    for (const path of ['/reset-password?token=abc', '/oauth/done', '/rooms/0123456789abcdef01234567', '/signup']) {
      const response = await get(path);
      expect(response.status, path).toBe(200);
      expect(await response.text()).toContain('<div id="app"></div>');
    }
    for (const path of ['/missing.js', '/assets/nothing-here.css', '/api/nothing', '/healthz/extra']) {
      const response = await get(path);
      expect(response.status, path).toBe(404);
      expect(await response.json()).toMatchObject({ success: false, error: { code: 'NOT_FOUND' } });
    }
    expect((await fetch(`${site}/`, { method: 'POST' })).status).toBe(404);
  });

  it('caches hashed assets for a year, compresses them, and answers a revalidation with 304', async () => {
    const script = readdirSync(`${WEB_APP_DIR}/assets`).find((name) => name.endsWith('.js'))!;
    const response = await get(`/assets/${script}`, { 'accept-encoding': 'gzip' });
    expect(response.status).toBe(200);
    expect(response.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(response.headers.get('content-type')).toMatch(/^text\/javascript/);
    expect(response.headers.get('content-encoding')).toBe('gzip');
    const etag = response.headers.get('etag')!;
    expect((await get(`/assets/${script}`, { 'if-none-match': etag })).status).toBe(304);
  });

  it('tells the app where the hub is and which sign-in providers exist', async () => {
    const config = await fetch(`${site}/api/client-config`).then((r) => r.json());
    expect(config).toEqual({ success: true, hubUrl: `ws://localhost:${server.wsPort}/ws`, maxUploadBytes: 25 * 1024 * 1024 });
    expect((await api.get('/api/auth/oauth')).body).toEqual({ success: true, providers: ['google'] });
  });

  it('lands a browser that signed in with a provider on /oauth/done, its session in the cookies the page exchanges', async () => {
    const tag = Date.now().toString(36);
    google.profile = { sub: `web-${tag}`, email: `web.${tag}@gmail.example`, email_verified: true, name: 'Web Lander' };
    const start = await get('/api/auth/oauth/google', { accept: 'text/html' });
    expect(start.status).toBe(302);
    const stateCookie = start.headers.getSetCookie().find((line) => line.startsWith('chatd_oauth='))!.split(';')[0]!;
    const atProvider = await fetch(start.headers.get('location')!, { redirect: 'manual' });
    const callback = new URL(atProvider.headers.get('location')!);
    const landed = await get(callback.pathname + callback.search, { accept: 'text/html,application/xhtml+xml', cookie: stateCookie });
    expect(landed.status).toBe(302);
    expect(new URL(landed.headers.get('location')!, site).pathname).toBe('/oauth/done');
    expect(new URL(landed.headers.get('location')!, site).searchParams.has('error')).toBe(false);
    // What the page at /oauth/done does: exchange the refresh cookie (CSRF header from its cookie) for the session.
    const cookies = new Map(landed.headers.getSetCookie().map((line) => line.split(';')[0]!.split('=') as [string, string]));
    expect(cookies.get('chatd_refresh')).toBeTruthy();
    const refreshed = await fetch(`${site}/api/auth/refresh`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', cookie: `chatd_refresh=${cookies.get('chatd_refresh')}; chatd_csrf=${cookies.get('chatd_csrf')}`, 'x-csrf-token': decodeURIComponent(cookies.get('chatd_csrf')!) },
      body: '{}',
    });
    expect(refreshed.status).toBe(200);
    const { tokens } = (await refreshed.json()) as { tokens: { accessToken: string } };
    expect((await api.get('/api/auth/me', { token: tokens.accessToken })).body.user).toMatchObject({ email: `web.${tag}@gmail.example` });
  });

  it('sends a browser back to the app after OAuth, with the reason when it failed', async () => {
    // A callback without the state cookie is refused: a browser lands on the page that says so...
    const html = await get('/api/auth/oauth/google/callback?code=x&state=y', { accept: 'text/html,application/xhtml+xml' });
    expect(html.status).toBe(302);
    const landing = new URL(html.headers.get('location')!, site);
    expect(landing.pathname).toBe('/oauth/done');
    expect(landing.searchParams.get('error')).toMatch(/.+/);
    // ...while an API client still gets the JSON error.
    const json = await get('/api/auth/oauth/google/callback?code=x&state=y', { accept: 'application/json' });
    expect(json.status).toBeGreaterThanOrEqual(400);
    expect(await json.json()).toMatchObject({ success: false });
  });
});
