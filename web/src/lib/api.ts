import type { Tokens } from './types';

/** A failed call, as the server described it: `{code, message, details}` from the error envelope. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: { path: string; message: string }[] = [],
  ) {
    super(message);
  }

  /** What the server said about one field (from `details`), for display next to its control. */
  forField(field: string): string | undefined {
    const messages = this.details.filter((detail) => detail.path === field || detail.path.endsWith(`.${field}`)).map((detail) => detail.message);
    return messages.length > 0 ? messages.join(', ') : undefined;
  }
}

let accessToken: string | undefined;
let refreshing: Promise<boolean> | undefined;
const tokenListeners = new Set<(token: string | undefined) => void>();

export function currentToken(): string | undefined {
  return accessToken;
}

export function setTokens(tokens: Tokens | undefined): void {
  accessToken = tokens?.accessToken;
  for (const listener of tokenListeners) listener(accessToken);
}

/** Called with every new access token (the hub re-authenticates with it), and undefined on sign-out. */
export function onToken(listener: (token: string | undefined) => void): () => void {
  tokenListeners.add(listener);
  return () => tokenListeners.delete(listener);
}

/** The readable CSRF cookie the server pairs with the HTTP-only session cookies. */
function csrfToken(): string | undefined {
  const match = /(?:^|;\s*)chatd_csrf=([^;]+)/.exec(document.cookie);
  return match ? decodeURIComponent(match[1]!) : undefined;
}

export function hasSessionCookie(): boolean {
  return csrfToken() !== undefined;
}

async function parse(response: Response): Promise<any> {
  const text = await response.text();
  let body: any;
  try {
    body = text ? JSON.parse(text) : {};
  } catch {
    throw new ApiError(response.status, 'BAD_RESPONSE', `The server answered ${response.status} without JSON`);
  }
  if (!response.ok || body.success === false) {
    const error = body.error ?? {};
    throw new ApiError(response.status, error.code ?? 'ERROR', error.message ?? `Request failed (${response.status})`, error.details ?? []);
  }
  return body;
}

/**
 * Exchanges the refresh cookie for a new pair. Concurrent callers in this tab share one request;
 * another tab refreshing at the same moment gets the same pair from the server's reuse grace.
 */
export function refreshSession(): Promise<boolean> {
  refreshing ??= (async () => {
    try {
      const csrf = csrfToken();
      if (!csrf) return false;
      const response = await fetch('/api/auth/refresh', {
        method: 'POST',
        credentials: 'same-origin',
        headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrf },
        body: '{}',
      });
      if (response.status === 401 || response.status === 403) {
        setTokens(undefined);
        return false;
      }
      const body = await parse(response);
      setTokens(body.tokens);
      return true;
    } finally {
      refreshing = undefined;
    }
  })();
  return refreshing;
}

interface CallOptions {
  method?: string;
  body?: unknown;
  /** Without the bearer token (sign-in, sign-up, password reset). */
  anonymous?: boolean;
}

/** One REST call: JSON in and out, the bearer token, one refresh-and-retry on 401. */
export async function api<T = any>(path: string, options: CallOptions = {}): Promise<T> {
  const send = () => {
    const headers: Record<string, string> = {};
    if (options.body !== undefined) headers['Content-Type'] = 'application/json';
    if (!options.anonymous && accessToken) headers.Authorization = `Bearer ${accessToken}`;
    const csrf = csrfToken();
    if (csrf) headers['X-CSRF-Token'] = csrf;
    return fetch(path, {
      method: options.method ?? (options.body === undefined ? 'GET' : 'POST'),
      credentials: 'same-origin',
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
    });
  };
  let response = await send();
  if (response.status === 401 && !options.anonymous && (await refreshSession())) response = await send();
  return parse(response);
}

/** Uploads a file (multipart field `file`), reporting progress from 0 to 1. */
export function upload(file: File, onProgress: (fraction: number) => void): Promise<any> {
  const attempt = () =>
    new Promise<{ status: number; text: string }>((resolve, reject) => {
      const request = new XMLHttpRequest();
      request.open('POST', '/api/files');
      if (accessToken) request.setRequestHeader('Authorization', `Bearer ${accessToken}`);
      request.upload.onprogress = (event) => event.lengthComputable && onProgress(event.loaded / event.total);
      request.onload = () => resolve({ status: request.status, text: request.responseText });
      request.onerror = () => reject(new ApiError(0, 'NETWORK', 'The upload failed: no connection to the server'));
      const form = new FormData();
      form.append('file', file);
      request.send(form);
    });
  return (async () => {
    let result = await attempt();
    if (result.status === 401 && (await refreshSession())) result = await attempt();
    return parse(new Response(result.text, { status: result.status }));
  })();
}
