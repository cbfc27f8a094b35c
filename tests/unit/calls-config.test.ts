import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/load.js';

const secrets = { JWT_SECRET: 'a'.repeat(40), JWT_REFRESH_SECRET: 'b'.repeat(40) };
const load = (env: Record<string, string>) => loadConfig({ env: { ...secrets, ...env }, cwd: mkdtempSync(join(tmpdir(), 'chatd-config-')) });

function problemsOf(env: Record<string, string>): string[] {
  try {
    load(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).problems.map((p) => `${p.variable} ${p.message}`);
  }
  throw new Error('expected a ConfigError');
}

describe('call settings', () => {
  it('defaults to a 30 s ring, a short reconnect grace and no ICE servers', () => {
    const config = load({});
    expect(config.CALL_RING_TIMEOUT_SECONDS).toBe(30);
    expect(config.CALL_RECONNECT_GRACE_SECONDS).toBe(10);
    expect(config.STUN_URLS).toBeUndefined();
    expect(config.TURN_URLS).toBeUndefined();
    expect(config.TURN_CREDENTIAL_TTL).toBe(12 * 3600);
  });

  it('reads ICE server lists', () => {
    const config = load({
      STUN_URLS: 'stun:stun.example.org:3478, stuns:stun.example.org:5349',
      TURN_URLS: 'turn:turn.example.org:3478?transport=udp,turns:turn.example.org:5349',
      TURN_SECRET: 's'.repeat(32),
      TURN_CREDENTIAL_TTL: '1h',
    });
    expect(config.STUN_URLS).toEqual(['stun:stun.example.org:3478', 'stuns:stun.example.org:5349']);
    expect(config.TURN_URLS).toEqual(['turn:turn.example.org:3478?transport=udp', 'turns:turn.example.org:5349']);
    expect(config.TURN_CREDENTIAL_TTL).toBe(3600);
  });

  it('names each bad call setting', () => {
    expect(problemsOf({ TURN_URLS: 'turn:turn.example.org' })).toEqual(['TURN_SECRET is required when TURN_URLS is set']);
    expect(problemsOf({ TURN_SECRET: 's'.repeat(32) })).toEqual(['TURN_URLS is required when TURN_SECRET is set']);
    expect(problemsOf({ STUN_URLS: 'http://stun.example.org' })[0]).toMatch(/^STUN_URLS each entry must look like stun:/);
    expect(problemsOf({ TURN_URLS: 'stun:x.example.org', TURN_SECRET: 's'.repeat(32) })[0]).toMatch(/^TURN_URLS each entry must look like turn:/);
    expect(problemsOf({ CALL_RING_TIMEOUT_SECONDS: '0' })[0]).toMatch(/^CALL_RING_TIMEOUT_SECONDS must be greater than 0/);
  });

  it('never prints the TURN secret in a problem', () => {
    expect(problemsOf({ TURN_URLS: 'turn:t.example.org', TURN_SECRET: 'short' }).join('\n')).not.toContain('short"');
  });
});
