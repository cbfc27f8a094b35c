import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/load.js';

const secrets = { JWT_SECRET: 'a'.repeat(40), JWT_REFRESH_SECRET: 'b'.repeat(40) };

function problemsOf(env: Record<string, string>, cwd = mkdtempSync(join(tmpdir(), 'chatd-config-'))): string[] {
  try {
    loadConfig({ env, cwd });
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).problems.map((p) => `${p.variable} ${p.message}`);
  }
  throw new Error('expected a ConfigError');
}

describe('configuration', () => {
  it('applies defaults', () => {
    const config = loadConfig({ env: secrets, cwd: mkdtempSync(join(tmpdir(), 'chatd-config-')) });
    expect(config.PORT).toBe(3000);
    expect(config.WS_PORT).toBe(3001);
    expect(config.JWT_EXPIRY).toBe(900);
    expect(config.JWT_REFRESH_EXPIRY).toBe(7 * 86400);
    expect(config.CORS_ORIGIN).toEqual(['http://localhost:3000']);
    expect(config.MONGODB_URI).toBeUndefined();
  });

  it('lets the environment win over .env', () => {
    const cwd = mkdtempSync(join(tmpdir(), 'chatd-config-'));
    writeFileSync(join(cwd, '.env'), `PORT=4000\nWS_PORT=4001\nJWT_SECRET=${'c'.repeat(40)}\nJWT_REFRESH_SECRET=${'d'.repeat(40)}\n`);
    const config = loadConfig({ env: { PORT: '5000' }, cwd });
    expect(config.PORT).toBe(5000);
    expect(config.WS_PORT).toBe(4001);
    expect(config.envFile).toBe(join(cwd, '.env'));
  });

  it('lets an empty variable mean "not set" without hiding the value in .env', () => {
    const cwd = mkdtempSync(join(tmpdir(), 'chatd-config-'));
    writeFileSync(join(cwd, '.env'), `PORT=4000\nJWT_SECRET=${'c'.repeat(40)}\nJWT_REFRESH_SECRET=${'d'.repeat(40)}\n`);
    const config = loadConfig({ env: { PORT: '', JWT_SECRET: '  ' }, cwd });
    expect(config.PORT).toBe(4000);
    expect(config.JWT_SECRET).toBe('c'.repeat(40));
  });

  it('refuses a settings file named by --env-file or CHATD_ENV_FILE that does not exist', () => {
    const cwd = mkdtempSync(join(tmpdir(), 'chatd-config-'));
    expect(() => loadConfig({ env: secrets, cwd, envFile: '/nope/.env' })).toThrow(/--env-file: \/nope\/\.env does not exist/);
    expect(problemsOf({ ...secrets, CHATD_ENV_FILE: 'missing.env' }, cwd)).toEqual([`CHATD_ENV_FILE ${join(cwd, 'missing.env')} does not exist`]);
    expect(loadConfig({ env: secrets, cwd }).envFile).toBeUndefined();
  });

  it('checks HOST, METRICS_HOST and CORS_ORIGIN', () => {
    for (const host of ['0.0.0.0', '127.0.0.1', '::', '::1', '[::1]', 'localhost', 'chat-box.lan']) {
      expect(loadConfig({ env: { ...secrets, HOST: host, METRICS_HOST: host }, cwd: tmpdir() }).HOST).toBe(host);
    }
    for (const host of ['999.1.1.1', '1.2.3', 'not a host', '-bad.lan', ':::1']) {
      expect(problemsOf({ ...secrets, HOST: host }), host).toEqual([expect.stringMatching(/^HOST must be an IP address/)]);
    }
    expect(loadConfig({ env: { ...secrets, CORS_ORIGIN: '*' }, cwd: tmpdir() }).CORS_ORIGIN).toEqual(['*']);
    for (const origins of ['notanorigin', 'https://chat.example.com/', 'https://chat.example.com/app', 'ftp://files.example.com', 'http://a.example,nope']) {
      expect(problemsOf({ ...secrets, CORS_ORIGIN: origins }), origins).toEqual([expect.stringMatching(/^CORS_ORIGIN each entry must be \* or an http:\/\/ or https:\/\/ origin such as/)]);
    }
    expect(problemsOf({ ...secrets, METRICS_PORT: '3000' })).toEqual(['METRICS_PORT must differ from PORT and WS_PORT (it is 3000)']);
  });

  it('reports every problem at once, each naming its variable', () => {
    const problems = problemsOf({ PORT: 'notaport', WS_PORT: '70000', JWT_EXPIRY: 'soon', PUBLIC_URL: 'ftp://x', TRUST_PROXY: 'maybe' });
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^PORT must be a port number \(got "notaport"\)/),
        expect.stringMatching(/^WS_PORT must be between 1 and 65535/),
        expect.stringMatching(/^JWT_EXPIRY must be a duration/),
        expect.stringMatching(/^PUBLIC_URL /),
        expect.stringMatching(/^TRUST_PROXY must be true or false/),
        expect.stringMatching(/^JWT_SECRET is required/),
        expect.stringMatching(/^JWT_REFRESH_SECRET is required/),
      ]),
    );
  });

  it('never echoes a secret it rejects', () => {
    const problems = problemsOf({ JWT_SECRET: 'short-secret-value', JWT_REFRESH_SECRET: 'short-secret-value' });
    expect(problems.join('\n')).not.toContain('short-secret-value');
    expect(problems.some((p) => p.startsWith('JWT_SECRET must be at least 32 characters'))).toBe(true);
  });

  it('refuses equal JWT secrets and equal ports', () => {
    const problems = problemsOf({ JWT_SECRET: 'e'.repeat(40), JWT_REFRESH_SECRET: 'e'.repeat(40), PORT: '3000', WS_PORT: '3000' });
    expect(problems).toEqual(expect.arrayContaining(['JWT_REFRESH_SECRET must differ from JWT_SECRET', 'WS_PORT must differ from PORT (both are 3000)']));
  });

  it('parses durations and lists', () => {
    const config = loadConfig({ env: { ...secrets, JWT_EXPIRY: '1h', JWT_REFRESH_EXPIRY: '30d', CORS_ORIGIN: 'https://a.example, https://b.example' }, cwd: tmpdir() });
    expect(config.JWT_EXPIRY).toBe(3600);
    expect(config.JWT_REFRESH_EXPIRY).toBe(30 * 86400);
    expect(config.CORS_ORIGIN).toEqual(['https://a.example', 'https://b.example']);
  });
});

describe('call settings', () => {
  it('defaults to a 30 s ring, a short reconnect grace and no ICE servers', () => {
    const config = loadConfig({ env: secrets, cwd: mkdtempSync(join(tmpdir(), 'chatd-config-')) });
    expect(config.CALL_RING_TIMEOUT_SECONDS).toBe(30);
    expect(config.CALL_RECONNECT_GRACE_SECONDS).toBe(10);
    expect(config.STUN_URLS).toBeUndefined();
    expect(config.TURN_URLS).toBeUndefined();
    expect(config.TURN_CREDENTIAL_TTL).toBe(12 * 3600);
  });

  it('reads ICE server lists', () => {
    const config = loadConfig({
      cwd: tmpdir(),
      env: {
        ...secrets,
        STUN_URLS: 'stun:stun.example.org:3478, stuns:stun.example.org:5349',
        TURN_URLS: 'turn:turn.example.org:3478?transport=udp,turns:turn.example.org:5349',
        TURN_SECRET: 's'.repeat(32),
        TURN_CREDENTIAL_TTL: '1h',
      },
    });
    expect(config.STUN_URLS).toEqual(['stun:stun.example.org:3478', 'stuns:stun.example.org:5349']);
    expect(config.TURN_URLS).toEqual(['turn:turn.example.org:3478?transport=udp', 'turns:turn.example.org:5349']);
    expect(config.TURN_CREDENTIAL_TTL).toBe(3600);
  });

  it('names each bad call setting', () => {
    expect(problemsOf({ ...secrets, TURN_URLS: 'turn:turn.example.org' })).toEqual(['TURN_SECRET is required when TURN_URLS is set']);
    expect(problemsOf({ ...secrets, TURN_SECRET: 's'.repeat(32) })).toEqual(['TURN_URLS is required when TURN_SECRET is set']);
    expect(problemsOf({ ...secrets, STUN_URLS: 'http://stun.example.org' })[0]).toMatch(/^STUN_URLS each entry must look like stun:/);
    expect(problemsOf({ ...secrets, TURN_URLS: 'stun:x.example.org', TURN_SECRET: 's'.repeat(32) })[0]).toMatch(/^TURN_URLS each entry must look like turn:/);
    expect(problemsOf({ ...secrets, CALL_RING_TIMEOUT_SECONDS: '0' })[0]).toMatch(/^CALL_RING_TIMEOUT_SECONDS must be greater than 0/);
  });

  it('never prints the TURN secret in a problem', () => {
    expect(problemsOf({ ...secrets, TURN_URLS: 'turn:t.example.org', TURN_SECRET: 'short' }).join('\n')).not.toContain('short"');
  });
});

describe('accounts configuration', () => {
  it('has the spec defaults: bcrypt cost 12, 5 failed logins per 15 minutes', () => {
    const config = loadConfig({ env: secrets, cwd: mkdtempSync(join(tmpdir(), 'chatd-config-')) });
    expect(config.BCRYPT_COST).toBe(12);
    expect(config.RATE_LIMIT_LOGIN).toEqual({ points: 5, durationSeconds: 900 });
    expect(config.TOKEN_SWEEP_CRON).toBe('*/10 * * * *');
    expect(config.GOOGLE_CLIENT_ID).toBeUndefined();
  });

  it('parses rate limits as attempts/window', () => {
    expect(loadConfig({ env: { ...secrets, RATE_LIMIT_REGISTER: '20 / 1h' }, cwd: tmpdir() }).RATE_LIMIT_REGISTER).toEqual({ points: 20, durationSeconds: 3600 });
    expect(loadConfig({ env: { ...secrets, RATE_LIMIT_REFRESH: '3/30s' }, cwd: tmpdir() }).RATE_LIMIT_REFRESH).toEqual({ points: 3, durationSeconds: 30 });
  });

  it('names each bad accounts setting, without echoing secrets', () => {
    const problems = problemsOf({
      ...secrets,
      BCRYPT_COST: '8',
      RATE_LIMIT_LOGIN: 'five',
      RATE_LIMIT_PASSWORD: '0/15m',
      TOKEN_SWEEP_CRON: 'every minute',
      SMTP_URL: 'http://mail.example',
      GOOGLE_CLIENT_ID: 'id-only',
      GITHUB_CLIENT_SECRET: 'secret-only-value',
      GITHUB_API_URL: 'javascript:alert(1)',
    });
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^BCRYPT_COST must be at least 10/),
        expect.stringMatching(/^RATE_LIMIT_LOGIN must be attempts\/window such as 5\/15m/),
        expect.stringMatching(/^RATE_LIMIT_PASSWORD must allow at least 1 attempt/),
        expect.stringMatching(/^TOKEN_SWEEP_CRON must be a cron expression/),
        expect.stringMatching(/^SMTP_URL must start with smtp:\/\/ or smtps:\/\//),
        'GOOGLE_CLIENT_SECRET is required when GOOGLE_CLIENT_ID is set',
        'GITHUB_CLIENT_ID is required when GITHUB_CLIENT_SECRET is set',
        expect.stringMatching(/^GITHUB_API_URL /),
      ]),
    );
    expect(problems.join('\n')).not.toContain('secret-only-value');
    expect(problems.join('\n')).not.toContain('mail.example');
  });
});
