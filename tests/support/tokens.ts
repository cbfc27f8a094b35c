import { createHmac, randomUUID } from 'node:crypto';
import { TEST_JWT_REFRESH_SECRET, TEST_JWT_SECRET } from './chatd.js';

const b64 = (value: object | Buffer) => (Buffer.isBuffer(value) ? value : Buffer.from(JSON.stringify(value))).toString('base64url');

export interface ForgeOptions {
  type?: 'access' | 'refresh';
  secret?: string;
  alg?: string;
  expiresInSeconds?: number;
  claims?: Record<string, unknown>;
  header?: Record<string, unknown>;
}

/**
 * Builds a JWT by hand with the test secrets, so tests can present tokens chatd would never
 * issue: expired, wrongly typed, `alg: none`, tampered.
 */
export function forgeToken(userId: string, options: ForgeOptions = {}): string {
  const type = options.type ?? 'access';
  const now = Math.floor(Date.now() / 1000);
  const header = { alg: options.alg ?? 'HS256', typ: 'JWT', ...options.header };
  const payload = {
    typ: type,
    sub: userId,
    iss: 'chatd',
    aud: [`chatd:${type}`],
    jti: randomUUID(),
    iat: now,
    exp: now + (options.expiresInSeconds ?? 900),
    ...options.claims,
  };
  const signingInput = `${b64(header)}.${b64(payload)}`;
  if (header.alg === 'none') return `${signingInput}.`;
  const secret = options.secret ?? (type === 'access' ? TEST_JWT_SECRET : TEST_JWT_REFRESH_SECRET);
  return `${signingInput}.${b64(createHmac('sha256', secret).update(signingInput).digest())}`;
}

/** The same token with one byte of its signature changed. */
export function flipSignatureByte(token: string): string {
  const [header, payload, signature] = token.split('.') as [string, string, string];
  const bytes = Buffer.from(signature, 'base64url');
  bytes[0] = bytes[0]! ^ 0x01;
  return `${header}.${payload}.${bytes.toString('base64url')}`;
}
