import { timingSafeEqual } from 'node:crypto';
import { generateCodeVerifier, generateState, OAuth2Client, OAuth2RequestError } from 'oslo/oauth2';
import { z } from 'zod';
import type { Config } from '../../config/load.js';
import { Invalid, NotFound, Unauthorized, Unavailable } from '../../errors.js';
import type { CsrfTokens } from './csrf.js';
import type { OAuthProviderName } from './identities-repo.js';

/** What chatd needs to know about a provider account. */
export interface OAuthProfile {
  provider: OAuthProviderName;
  /** The provider's stable account id: the only key identities are stored under. */
  subject: string;
  email: string | null;
  emailVerified: boolean;
  /** A name to derive a chatd username from. */
  preferredUsername: string;
}

interface Provider {
  client: OAuth2Client;
  secret: string;
  scopes: string[];
  fetchProfile(accessToken: string): Promise<OAuthProfile>;
}

const googleUserinfo = z.object({
  sub: z.string().min(1),
  email: z.string().optional(),
  email_verified: z.union([z.boolean(), z.enum(['true', 'false'])]).optional(),
  name: z.string().optional(),
});

const githubUser = z.object({ id: z.union([z.number(), z.string()]), login: z.string().min(1), email: z.string().nullable().optional() });
const githubEmails = z.array(z.object({ email: z.string(), primary: z.boolean(), verified: z.boolean() }));

async function getJson(url: string, accessToken: string, accept = 'application/json'): Promise<unknown> {
  let response: Response;
  try {
    response = await fetch(url, {
      headers: { Authorization: `Bearer ${accessToken}`, Accept: accept, 'User-Agent': 'chatd' },
      signal: AbortSignal.timeout(10_000),
    });
  } catch (error) {
    throw new Unavailable(`The login provider did not answer: ${(error as Error).message}`);
  }
  if (!response.ok) throw new Unauthorized(`The login provider refused the profile request (${response.status})`);
  return response.json();
}

function parseProfile<S extends z.ZodType>(schema: S, value: unknown): z.infer<S> {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new Unavailable('The login provider answered with an unexpected profile');
  return parsed.data;
}

/** The providers whose client id and secret are configured; endpoints are settings so tests can play the provider. */
function configuredProviders(config: Config): Map<OAuthProviderName, Provider> {
  const providers = new Map<OAuthProviderName, Provider>();
  const redirect = (name: OAuthProviderName) => `${config.PUBLIC_URL.replace(/\/$/, '')}/api/auth/oauth/${name}/callback`;
  if (config.GOOGLE_CLIENT_ID && config.GOOGLE_CLIENT_SECRET) {
    providers.set('google', {
      client: new OAuth2Client(config.GOOGLE_CLIENT_ID, config.GOOGLE_AUTHORIZE_URL, config.GOOGLE_TOKEN_URL, { redirectURI: redirect('google') }),
      secret: config.GOOGLE_CLIENT_SECRET,
      scopes: ['openid', 'email', 'profile'],
      async fetchProfile(accessToken) {
        const info = parseProfile(googleUserinfo, await getJson(config.GOOGLE_USERINFO_URL, accessToken));
        return {
          provider: 'google',
          subject: info.sub,
          email: info.email?.toLowerCase() ?? null,
          emailVerified: info.email_verified === true || info.email_verified === 'true',
          preferredUsername: info.name ?? info.email?.split('@')[0] ?? 'google-user',
        };
      },
    });
  }
  if (config.GITHUB_CLIENT_ID && config.GITHUB_CLIENT_SECRET) {
    const api = config.GITHUB_API_URL.replace(/\/$/, '');
    providers.set('github', {
      client: new OAuth2Client(config.GITHUB_CLIENT_ID, config.GITHUB_AUTHORIZE_URL, config.GITHUB_TOKEN_URL, { redirectURI: redirect('github') }),
      secret: config.GITHUB_CLIENT_SECRET,
      scopes: ['read:user', 'user:email'],
      async fetchProfile(accessToken) {
        const accept = 'application/vnd.github+json';
        const user = parseProfile(githubUser, await getJson(`${api}/user`, accessToken, accept));
        // /user shows only a public e-mail, unverified; /user/emails says which are verified.
        const emails = parseProfile(githubEmails, await getJson(`${api}/user/emails`, accessToken, accept));
        const primary = emails.find((entry) => entry.primary) ?? emails[0];
        return {
          provider: 'github',
          subject: String(user.id),
          email: primary?.email.toLowerCase() ?? user.email?.toLowerCase() ?? null,
          emailVerified: primary?.verified ?? false,
          preferredUsername: user.login,
        };
      },
    });
  }
  return providers;
}

export interface OAuthStart {
  url: URL;
  /** The value of the OAuth cookie that binds the callback to this browser. */
  cookie: string;
}

/**
 * Authorization code flow with PKCE (S256) through oslo's OAuth2Client. `state` and the code
 * verifier travel in a signed, HTTP-only, 10-minute cookie, so a callback is accepted only in the
 * browser that started the login.
 */
export class OAuthFlow {
  private readonly providers: Map<OAuthProviderName, Provider>;

  constructor(
    config: Config,
    private readonly signer: CsrfTokens,
  ) {
    this.providers = configuredProviders(config);
  }

  enabled(): OAuthProviderName[] {
    return [...this.providers.keys()];
  }

  async begin(name: OAuthProviderName): Promise<OAuthStart> {
    const provider = this.provider(name);
    const state = generateState();
    const verifier = generateCodeVerifier();
    const url = await provider.client.createAuthorizationURL({ state, codeVerifier: verifier, codeChallengeMethod: 'S256', scopes: provider.scopes });
    const payload = `${name}.${state}.${verifier}`;
    return { url, cookie: `${payload}.${this.signer.sign(payload)}` };
  }

  /** Checks state against the cookie, exchanges the code (with the verifier) and reads the profile. */
  async finish(name: OAuthProviderName, query: { code?: string; state?: string; error?: string }, cookie: string | undefined): Promise<OAuthProfile> {
    const provider = this.provider(name);
    const parts = cookie?.split('.') ?? [];
    const [cookieProvider, state, verifier, signature] = parts;
    const stateOk =
      parts.length === 4 &&
      this.signer.verifySigned(`${cookieProvider}.${state}.${verifier}`, signature!) &&
      cookieProvider === name &&
      query.state !== undefined &&
      query.state.length === state!.length &&
      timingSafeEqual(Buffer.from(query.state), Buffer.from(state!));
    if (!stateOk) throw new Invalid('OAuth state is missing or does not match this browser; start the login again', [{ path: 'state', message: 'does not match' }]);
    if (query.error) throw new Unauthorized(`The login provider refused: ${query.error}`);
    if (!query.code) throw new Invalid('The login provider sent no authorization code', [{ path: 'code', message: 'is required' }]);
    let accessToken: string;
    try {
      const tokens = await provider.client.validateAuthorizationCode(query.code, { codeVerifier: verifier!, credentials: provider.secret, authenticateWith: 'request_body' });
      accessToken = tokens.access_token;
    } catch (error) {
      if (error instanceof OAuth2RequestError) throw new Unauthorized(`The login provider refused the authorization code (${error.message || 'no reason given'})`);
      throw new Unavailable(`The login provider's token endpoint failed: ${(error as Error).message}`);
    }
    if (typeof accessToken !== 'string' || accessToken === '') throw new Unavailable('The login provider returned no access token');
    return provider.fetchProfile(accessToken);
  }

  private provider(name: OAuthProviderName): Provider {
    const provider = this.providers.get(name);
    if (!provider) throw new NotFound(`${name === 'google' ? 'Google' : 'GitHub'} login is not enabled on this server`);
    return provider;
  }
}
