import { api, currentToken, hasSessionCookie, onToken, refreshSession, setTokens } from '../lib/api';
import type { Tokens, User } from '../lib/types';

export interface ClientConfig {
  hubUrl: string;
  maxUploadBytes: number;
}

/** Seconds until a JWT expires, read from its payload (the server checks the signature). */
function secondsLeft(token: string): number {
  try {
    const payload = JSON.parse(atob(token.split('.')[1]!.replace(/-/g, '+').replace(/_/g, '/')));
    return payload.exp - Date.now() / 1000;
  } catch {
    return 0;
  }
}

/** Who is signed in, the server's client settings, and keeping the access token fresh. */
class Session {
  user = $state<User | null>(null);
  ready = $state(false);
  config = $state<ClientConfig>({ hubUrl: '', maxUploadBytes: 0 });
  providers = $state<string[]>([]);
  private refreshTimer: ReturnType<typeof setTimeout> | undefined;

  constructor() {
    onToken((token) => this.scheduleRefresh(token));
  }

  async init(): Promise<void> {
    const [config, oauth] = await Promise.all([api('/api/client-config', { anonymous: true }), api('/api/auth/oauth', { anonymous: true }).catch(() => ({ providers: [] }))]);
    this.config = { hubUrl: config.hubUrl, maxUploadBytes: config.maxUploadBytes };
    this.providers = oauth.providers;
    if (hasSessionCookie() && (await refreshSession().catch(() => false))) await this.loadMe();
    this.ready = true;
  }

  /** After sign-in, sign-up or the OAuth landing. */
  async signedIn(tokens: Tokens | undefined): Promise<void> {
    if (tokens) setTokens(tokens);
    else if (!(await refreshSession())) throw new Error('Signing in did not start a session');
    await this.loadMe();
  }

  async signOut(): Promise<void> {
    await api('/api/auth/logout', { body: {} }).catch(() => undefined);
    this.clear();
  }

  /** The session ended elsewhere (revoked, expired): back to the sign-in page. */
  clear(): void {
    setTokens(undefined);
    this.user = null;
  }

  private async loadMe(): Promise<void> {
    this.user = (await api('/api/auth/me')).user;
  }

  private scheduleRefresh(token: string | undefined): void {
    clearTimeout(this.refreshTimer);
    if (!token) return;
    // Well before expiry, so the hub connection is extended in time.
    const delay = Math.max(5, secondsLeft(token) * 0.8) * 1000;
    this.refreshTimer = setTimeout(() => {
      if (currentToken() !== token) return;
      refreshSession().then((ok) => ok || this.clear(), () => this.scheduleRefresh(token));
    }, delay);
  }
}

export const session = new Session();
