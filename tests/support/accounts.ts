import { randomBytes } from 'node:crypto';
import { expect } from 'vitest';
import type { ApiClient, ApiResponse } from './api.js';

export interface AccountInput {
  username: string;
  email: string;
  password: string;
}

export interface RegisteredAccount extends AccountInput {
  id: string;
  accessToken: string;
  refreshToken: string;
  response: ApiResponse;
}

/** A fresh username, e-mail and policy-compliant password (random apart from the name: a password built from it is refused). */
export function uniqueAccount(prefix = 'u'): AccountInput {
  const suffix = randomBytes(4).toString('hex');
  return { username: `${prefix}_${suffix}`, email: `${prefix}.${suffix}@example.test`, password: `Str0ng!${randomBytes(6).toString('base64url')}` };
}

/** Registers through the API and returns the tokens (fails the test unless it answered 201). */
export async function register(api: ApiClient, input: AccountInput = uniqueAccount(), headers: Record<string, string> = {}): Promise<RegisteredAccount> {
  const response = await api.post('/api/auth/register', input, { headers });
  expect(response.status, JSON.stringify(response.body)).toBe(201);
  return { ...input, id: response.body.user._id, accessToken: response.body.tokens.accessToken, refreshToken: response.body.tokens.refreshToken, response };
}

/** Logs in through the API (fails the test unless it answered 200). */
export async function login(api: ApiClient, email: string, password: string, headers: Record<string, string> = {}): Promise<{ accessToken: string; refreshToken: string; response: ApiResponse }> {
  const response = await api.post('/api/auth/login', { email, password }, { headers });
  expect(response.status, JSON.stringify(response.body)).toBe(200);
  return { accessToken: response.body.tokens.accessToken, refreshToken: response.body.tokens.refreshToken, response };
}

/** Cookies a response set, by name (value and the raw attributes). */
export function setCookies(response: ApiResponse): Map<string, { value: string; attributes: string }> {
  const cookies = new Map<string, { value: string; attributes: string }>();
  for (const line of response.headers.getSetCookie()) {
    const [pair, ...attributes] = line.split(';');
    const index = pair!.indexOf('=');
    cookies.set(pair!.slice(0, index).trim(), { value: decodeURIComponent(pair!.slice(index + 1)), attributes: attributes.join(';') });
  }
  return cookies;
}

/** A Cookie header from name → value. */
export function cookieHeader(cookies: Record<string, string>): string {
  return Object.entries(cookies)
    .map(([name, value]) => `${name}=${encodeURIComponent(value)}`)
    .join('; ');
}

/** Asserts the error envelope with a status and code. */
export function expectError(response: ApiResponse, status: number, code: string): void {
  expect(response.status, JSON.stringify(response.body)).toBe(status);
  expect(response.body).toMatchObject({ success: false, error: { code, message: expect.any(String) } });
}
