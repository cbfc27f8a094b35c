import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { register, uniqueAccount } from '../support/accounts.js';
import { messagingFixture, type MessagingFixture } from '../support/messaging.js';

const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==', 'base64');

let fx: MessagingFixture;

beforeAll(async () => {
  fx = await messagingFixture({ env: { BCRYPT_COST: '10' } });
});
afterAll(async () => {
  await fx?.close();
});

const cacheControl = (response: { headers: Headers }) => response.headers.get('cache-control');

describe('Cache-Control on answers with tokens or personal data', () => {
  it('is no-store on every answer that carries tokens', async () => {
    const account = await register(fx.api, uniqueAccount());
    expect(cacheControl(account.response)).toBe('no-store');
    const login = await fx.api.post('/api/auth/login', { email: account.email, password: account.password });
    expect(login.status).toBe(200);
    expect(cacheControl(login)).toBe('no-store');
    const refreshed = await fx.api.post('/api/auth/refresh', { refreshToken: account.refreshToken });
    expect(refreshed.status).toBe(200);
    expect(cacheControl(refreshed)).toBe('no-store');
  });

  it('is no-store on personal data: the own profile, other users, rooms and messages', async () => {
    const [alice, bob] = await fx.users(2);
    const roomId = await fx.room(alice!, [bob!]);
    for (const path of ['/api/auth/me', `/api/users/${bob!.id}`, '/api/users?search=user', '/api/rooms', `/api/messages?roomId=${roomId}`]) {
      const response = await fx.api.get(path, { token: alice!.token });
      expect(response.status, path).toBe(200);
      expect(cacheControl(response), path).toBe('no-store');
    }
  });

  it('is no-store on error answers as well (they may echo what was sent)', async () => {
    const [alice] = await fx.users(1);
    expect(cacheControl(await fx.api.get('/api/auth/me'))).toBe('no-store');
    expect(cacheControl(await fx.api.get('/api/no-such-thing', { token: alice!.token }))).toBe('no-store');
    expect(cacheControl(await fx.api.post('/api/auth/login', { email: 'nobody@example.test', password: 'Wr0ng!pass' }))).toBe('no-store');
  });

  it('keeps downloads private and uncached, and lets the public generated avatar be cached', async () => {
    const [alice] = await fx.users(1);
    const form = new FormData();
    form.append('file', new Blob([PNG], { type: 'image/png' }), 'pixel.png');
    const uploaded = await fx.api.call('POST', '/api/files', undefined, { token: alice!.token, raw: form });
    expect(uploaded.status).toBe(201);
    expect(cacheControl(uploaded)).toBe('no-store');
    const download = await fetch(`${fx.server.baseUrl}/api/files/${uploaded.body.file.fileId}`, { headers: { Authorization: `Bearer ${alice!.token}` } });
    expect(download.status).toBe(200);
    expect(cacheControl(download)).toBe('private, no-store');
    await download.arrayBuffer();
    const avatar = await fetch(`${fx.server.baseUrl}/api/users/${alice!.id}/avatar`);
    expect(avatar.status).toBe(200);
    expect(cacheControl(avatar)).toBe('public, max-age=86400');
  });
});
