import { describe, expect, it } from 'vitest';
import { register, setCookies, uniqueAccount } from '../support/accounts.js';
import { apiClient } from '../support/api.js';
import { startChatd } from '../support/chatd.js';

// Browsers drop Secure cookies over plain http://: a LAN install (the image runs with
// NODE_ENV=production) must still get cookie sessions, and an https:// one must get Secure.
describe('Secure cookies follow the scheme of PUBLIC_URL, not NODE_ENV', () => {
  it.each([
    ['http://chat.lan:3000', 'production', false],
    ['https://chat.example.com', 'test', true],
  ])('PUBLIC_URL=%s with NODE_ENV=%s: Secure is %s', async (publicUrl, nodeEnv, secure) => {
    const server = await startChatd({ env: { PUBLIC_URL: publicUrl, NODE_ENV: nodeEnv, BCRYPT_COST: '10' } });
    try {
      const cookies = setCookies((await register(apiClient(server.baseUrl), uniqueAccount('cookie'))).response);
      expect([...cookies.keys()].sort()).toEqual(['chatd_access', 'chatd_csrf', 'chatd_refresh']);
      for (const [name, cookie] of cookies) expect(/;\s*Secure(;|$)/.test(cookie.attributes), name).toBe(secure);
    } finally {
      expect(await server.stop()).toBe(0);
    }
    // A whole chatd starts and stops per case; on a busy two-core machine that takes a while.
  }, 120_000);
});
