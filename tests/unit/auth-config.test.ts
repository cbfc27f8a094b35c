import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/load.js';

const secrets = { JWT_SECRET: 'a'.repeat(40), JWT_REFRESH_SECRET: 'b'.repeat(40) };
const load = (env: Record<string, string>) => loadConfig({ env: { ...secrets, ...env }, cwd: mkdtempSync(join(tmpdir(), 'chatd-auth-config-')) });

function problemsOf(env: Record<string, string>): string[] {
  try {
    load(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).problems.map((p) => `${p.variable} ${p.message}`);
  }
  throw new Error('expected a ConfigError');
}

describe('accounts configuration', () => {
  it('has the spec defaults: bcrypt cost 12, 5 failed logins per 15 minutes', () => {
    const config = load({});
    expect(config.BCRYPT_COST).toBe(12);
    expect(config.RATE_LIMIT_LOGIN).toEqual({ points: 5, durationSeconds: 900 });
    expect(config.TOKEN_SWEEP_CRON).toBe('*/10 * * * *');
    expect(config.GOOGLE_CLIENT_ID).toBeUndefined();
  });

  it('parses rate limits as attempts/window', () => {
    expect(load({ RATE_LIMIT_REGISTER: '20 / 1h' }).RATE_LIMIT_REGISTER).toEqual({ points: 20, durationSeconds: 3600 });
    expect(load({ RATE_LIMIT_REFRESH: '3/30s' }).RATE_LIMIT_REFRESH).toEqual({ points: 3, durationSeconds: 30 });
  });

  it('names each bad accounts setting, without echoing secrets', () => {
    const problems = problemsOf({
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
