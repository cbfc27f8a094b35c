import { createHash, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { OAuth2Server } from 'oauth2-mock-server';

/** Google played by oauth2-mock-server (a standards-compliant OpenID provider that checks PKCE). */
export async function startGoogle(): Promise<{
  issuer: string;
  env: Record<string, string>;
  /** What /userinfo answers next. */
  profile: Record<string, unknown>;
  /** The code_challenge_method each authorization request asked for, and whether each token request carried a code_verifier. */
  seen: { challengeMethods: (string | undefined)[]; verifiers: boolean[] };
  stop(): Promise<void>;
}> {
  const server = new OAuth2Server();
  await server.issuer.keys.generate('RS256');
  await server.start(0, '127.0.0.1');
  const issuer = server.issuer.url!.replace(/\/$/, '');
  const state = {
    profile: { sub: 'google-1' } as Record<string, unknown>,
    seen: { challengeMethods: [] as (string | undefined)[], verifiers: [] as boolean[] },
  };
  server.service.on('beforeAuthorizeRedirect', (_redirect: unknown, req: IncomingMessage) => {
    state.seen.challengeMethods.push(new URL(req.url!, issuer).searchParams.get('code_challenge_method') ?? undefined);
  });
  server.service.on('beforeResponse', (_response: unknown, req: IncomingMessage & { body: Record<string, unknown> }) => {
    state.seen.verifiers.push(typeof req.body.code_verifier === 'string');
  });
  server.service.on('beforeUserinfo', (response: { body: unknown }) => {
    response.body = state.profile;
  });
  return {
    issuer,
    env: {
      GOOGLE_CLIENT_ID: 'chatd-test-google',
      GOOGLE_CLIENT_SECRET: 'google-secret',
      GOOGLE_AUTHORIZE_URL: `${issuer}/authorize`,
      GOOGLE_TOKEN_URL: `${issuer}/token`,
      GOOGLE_USERINFO_URL: `${issuer}/userinfo`,
    },
    get profile() {
      return state.profile;
    },
    set profile(value) {
      state.profile = value;
    },
    seen: state.seen,
    stop: () => server.stop(),
  };
}

export interface GitHubAccount {
  id: number;
  login: string;
  emails: { email: string; primary: boolean; verified: boolean }[];
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => resolve(body));
  });
}

/**
 * GitHub played by a small local HTTP server with GitHub's endpoints and answers: authorize
 * redirects back with a code, the token endpoint checks the client secret and the PKCE verifier
 * (answering errors as 200 JSON, as GitHub does), /user and /user/emails need the access token.
 */
export async function startGitHub(): Promise<{ url: string; env: Record<string, string>; account: GitHubAccount; stop(): Promise<void> }> {
  const clientId = 'chatd-test-github';
  const clientSecret = 'github-secret';
  const codes = new Map<string, { challenge: string; account: GitHubAccount }>();
  const tokens = new Map<string, GitHubAccount>();
  const state = { account: { id: 1001, login: 'octo', emails: [] } as GitHubAccount };
  const server: Server = createServer(async (req, res) => {
    const url = new URL(req.url!, 'http://github.test');
    const json = (status: number, body: unknown) => {
      res.writeHead(status, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (req.method === 'GET' && url.pathname === '/login/oauth/authorize') {
      const redirect = new URL(url.searchParams.get('redirect_uri')!);
      if (url.searchParams.get('client_id') !== clientId || url.searchParams.get('code_challenge_method') !== 'S256') return json(400, { error: 'bad request' });
      const code = randomUUID();
      codes.set(code, { challenge: url.searchParams.get('code_challenge')!, account: state.account });
      redirect.searchParams.set('code', code);
      redirect.searchParams.set('state', url.searchParams.get('state') ?? '');
      res.writeHead(302, { Location: redirect.toString() });
      return res.end();
    }
    if (req.method === 'POST' && url.pathname === '/login/oauth/access_token') {
      const form = new URLSearchParams(await readBody(req));
      const grant = codes.get(form.get('code') ?? '');
      codes.delete(form.get('code') ?? '');
      if (form.get('client_id') !== clientId || form.get('client_secret') !== clientSecret) return json(200, { error: 'incorrect_client_credentials' });
      const verifier = form.get('code_verifier') ?? '';
      if (!grant || createHash('sha256').update(verifier).digest('base64url') !== grant.challenge) return json(200, { error: 'bad_verification_code' });
      const token = `gho_${randomUUID().replace(/-/g, '')}`;
      tokens.set(token, grant.account);
      return json(200, { access_token: token, token_type: 'bearer', scope: 'read:user,user:email' });
    }
    const account = tokens.get((req.headers.authorization ?? '').replace(/^Bearer /, ''));
    if (!account) return json(401, { message: 'Bad credentials' });
    if (url.pathname === '/user') return json(200, { id: account.id, login: account.login, name: null, email: null });
    if (url.pathname === '/user/emails') return json(200, account.emails.map((entry) => ({ ...entry, visibility: null })));
    return json(404, { message: 'Not Found' });
  });
  const port = await new Promise<number>((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)));
  const base = `http://127.0.0.1:${port}`;
  return {
    url: base,
    env: {
      GITHUB_CLIENT_ID: clientId,
      GITHUB_CLIENT_SECRET: clientSecret,
      GITHUB_AUTHORIZE_URL: `${base}/login/oauth/authorize`,
      GITHUB_TOKEN_URL: `${base}/login/oauth/access_token`,
      GITHUB_API_URL: base,
    },
    get account() {
      return state.account;
    },
    set account(value) {
      state.account = value;
    },
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
