import { createHash, randomBytes } from 'node:crypto';
import { ObjectId } from 'mongodb';
import { Conflict, Forbidden, Invalid, RateLimited, Unauthorized } from '../../errors.js';
import type { Limit, LimitDescription, RateLimitSetting } from '../../http/rate-limit.js';
import type { Logger } from '../../logger.js';
import type { UsersRepo } from '../users/repo.js';
import type { UsersService } from '../users/service.js';
import type { UserDocument } from '../users/types.js';
import { identityId, type IdentitiesRepo } from './identities-repo.js';
import { KNOWN_ADDRESS_MS, type KnownAddressesRepo } from './known-addresses-repo.js';
import type { Mailer } from './mailer.js';
import type { OAuthProfile } from './oauth.js';
import type { PasswordHasher } from './passwords.js';
import type { LoginBody, PasswordChangeBody, RegisterBody, ResetPasswordBody } from './schemas.js';
import type { Session, SessionService } from './sessions.js';
import { tokenId, type TokensRepo } from './tokens-repo.js';
import type { Principal } from '../../core/principal.js';
import type { TokenClaims, TokenSigner } from './tokens.js';

/** A password-reset token is valid this long. */
export const RESET_TOKEN_TTL_MS = 30 * 60 * 1000;

export interface AuthLimits {
  register: Limit;
  loginByAddress: Limit;
  loginByAccount: Limit;
  refreshByAddress: Limit;
  passwordByAddress: Limit;
  passwordByAccount: Limit;
}

/** The settings of every limit AuthLimits holds, by name, and what each counts (every 429 says so). */
export function authLimitSettings(config: {
  RATE_LIMIT_LOGIN: RateLimitSetting;
  RATE_LIMIT_LOGIN_ACCOUNT: RateLimitSetting;
  RATE_LIMIT_REGISTER: RateLimitSetting;
  RATE_LIMIT_PASSWORD: RateLimitSetting;
  RATE_LIMIT_REFRESH: RateLimitSetting;
}): Record<keyof AuthLimits, { setting: RateLimitSetting; description: LimitDescription }> {
  const password = (counts: string) => ({ setting: config.RATE_LIMIT_PASSWORD, description: { variable: 'RATE_LIMIT_PASSWORD', counts } });
  return {
    register: { setting: config.RATE_LIMIT_REGISTER, description: { variable: 'RATE_LIMIT_REGISTER', counts: 'Sign-ups from this address' } },
    loginByAddress: { setting: config.RATE_LIMIT_LOGIN, description: { variable: 'RATE_LIMIT_LOGIN', counts: 'Failed logins from this address' } },
    loginByAccount: {
      setting: config.RATE_LIMIT_LOGIN_ACCOUNT,
      description: { variable: 'RATE_LIMIT_LOGIN_ACCOUNT', counts: 'Failed logins to this account from addresses it has not signed in from (an address it signed in from before is not held back)' },
    },
    refreshByAddress: { setting: config.RATE_LIMIT_REFRESH, description: { variable: 'RATE_LIMIT_REFRESH', counts: 'Failed token refreshes from this address' } },
    passwordByAddress: password('Password-reset attempts from this address'),
    passwordByAccount: password('Password attempts for this account'),
  };
}

export interface AuthServiceDeps {
  users: UsersRepo;
  usersService: UsersService;
  identities: IdentitiesRepo;
  tokens: TokensRepo;
  sessions: SessionService;
  signer: TokenSigner;
  hasher: PasswordHasher;
  mailer: Mailer;
  limits: AuthLimits;
  /** (account, address) pairs that signed in, exempt from the account's login limit for KNOWN_ADDRESS_MS. */
  knownAddresses: KnownAddressesRepo;
  logger: Logger;
  /** The client page that finishes a reset; the token is appended as ?token=. */
  resetUrl: string;
}

export interface SignedIn {
  user: UserDocument;
  session: Session;
}

const INVALID_LOGIN = 'Invalid email or password';
const digest = (token: string) => createHash('sha256').update(token).digest('hex');

/** Registration, login, token refresh, logout, password change and reset, OAuth sign-in. */
export class AuthService {
  private readonly log: Logger;

  constructor(private readonly deps: AuthServiceDeps) {
    this.log = deps.logger.child({ component: 'auth' });
  }

  /**
   * Creates an account. Every attempt that reaches here counts against the address, refused ones
   * (a taken name or e-mail) too: otherwise registering would be a free way to test which e-mail
   * addresses have accounts.
   */
  async register(body: RegisterBody, address: string): Promise<SignedIn> {
    await this.deps.limits.register.consume(address);
    const user = await this.deps.usersService.create({ username: body.username, email: body.email, password: body.password });
    this.log.info({ userId: user._id.toHexString() }, 'user registered');
    return { user, session: await this.deps.sessions.start(user._id, user.role) };
  }

  /**
   * Checks e-mail and password. An unknown e-mail, an account without a password and a wrong
   * password give the same answer after the same work (one bcrypt comparison); attempts count
   * before the check, so parallel guesses cannot outrun it, and a success gives its attempt back.
   *
   * Two limits, so that guessing cannot be turned into a lock-out of the owner: failures per
   * address (the spec's 5 per 15 minutes), and failures per account from addresses that account
   * has not signed in from within KNOWN_ADDRESS_MS (30 days). Guesses spread over many addresses are
   * held back by the second, while the owner, from an address they used before, is only ever
   * subject to the first: nobody elsewhere can use it up. Unknown e-mails are limited the same
   * way, so the answers do not tell which accounts exist.
   */
  async login(body: LoginBody, address: string): Promise<SignedIn> {
    const { loginByAddress, loginByAccount } = this.deps.limits;
    await loginByAddress.consume(address);
    const known = await this.deps.knownAddresses.knows(body.email, address, new Date(Date.now() - KNOWN_ADDRESS_MS));
    if (!known) await loginByAccount.consume(body.email);
    const user = await this.deps.users.findByEmail(body.email);
    const valid = await this.deps.hasher.verify(body.password, user?.passwordHash ?? null);
    if (!user || !valid) throw new Unauthorized(INVALID_LOGIN);
    if (user.disabled) throw new Forbidden('This account is disabled');
    await Promise.all([loginByAddress.refund(address), known ? undefined : loginByAccount.refund(body.email), this.deps.knownAddresses.remember(body.email, address)]);
    return { user, session: await this.deps.sessions.start(user._id, user.role) };
  }

  /** Rotates a refresh token; only failures count against the address. */
  async refresh(refreshToken: string, address: string): Promise<Session> {
    try {
      return await this.deps.sessions.rotate(refreshToken);
    } catch (error) {
      if (error instanceof Unauthorized) await this.deps.limits.refreshByAddress.consume(address);
      throw error;
    }
  }

  /** Revokes the access token and its session; a refresh token given too ends its session. */
  async logout(principal: Principal, refreshToken: string | undefined): Promise<void> {
    let claims: TokenClaims | undefined;
    if (refreshToken) claims = await this.deps.signer.verify('refresh', refreshToken).catch(() => undefined);
    await this.deps.sessions.end(principal, claims);
  }

  /** Changes the caller's password; every session ends and the caller gets a fresh one. */
  async changePassword(principal: Principal, body: PasswordChangeBody): Promise<SignedIn> {
    const id = new ObjectId(principal.userId);
    const current = await this.deps.usersService.get(id);
    if (current.passwordHash === null) {
      throw new Invalid('This account signs in through OAuth and has no password; use the password reset to set one', [{ path: 'currentPassword', message: 'account has no password' }]);
    }
    await this.deps.limits.passwordByAccount.consume(principal.userId);
    if (!(await this.deps.hasher.verify(body.currentPassword, current.passwordHash))) {
      throw new Invalid('Current password is incorrect', [{ path: 'currentPassword', message: 'is incorrect' }]);
    }
    await this.deps.limits.passwordByAccount.reset(principal.userId);
    const user = await this.deps.usersService.setPassword(id, body.newPassword, 'password changed');
    return { user, session: await this.deps.sessions.start(user._id, user.role) };
  }

  /**
   * Starts a password reset. Always succeeds from the caller's view; the token is made and mailed
   * after the answer, so neither the answer nor its timing says whether the e-mail is registered.
   */
  async forgotPassword(email: string, address: string): Promise<void> {
    await this.deps.limits.passwordByAddress.consume(address);
    const user = await this.deps.users.findByEmail(email);
    if (!user || user.disabled) return;
    void this.mailResetLink(user).catch((error: unknown) => this.log.error({ err: error, userId: user._id.toHexString() }, 'could not send the password-reset mail'));
  }

  private async mailResetLink(user: UserDocument): Promise<void> {
    try {
      await this.deps.limits.passwordByAccount.consume(`reset:${user.email}`);
    } catch (error) {
      // Over the per-account limit: the caller got the usual answer; no mail bombing.
      if (error instanceof RateLimited) return;
      throw error;
    }
    const token = randomBytes(32).toString('base64url');
    await this.deps.tokens.insert({
      _id: tokenId.reset(digest(token)),
      kind: 'password-reset',
      userId: user._id,
      expiresAt: new Date(Date.now() + RESET_TOKEN_TTL_MS),
    });
    const link = `${this.deps.resetUrl}${this.deps.resetUrl.includes('?') ? '&' : '?'}token=${token}`;
    await this.deps.mailer.send({
      to: user.email,
      subject: 'Reset your chatd password',
      text: [
        `Hello ${user.username},`,
        '',
        'Someone (hopefully you) asked to reset the password of your chatd account.',
        'Open this link within 30 minutes to choose a new password:',
        '',
        link,
        '',
        'If it was not you, ignore this mail; your password stays as it is.',
      ].join('\n'),
    });
  }

  /** Finishes a reset with a single-use token: new password, every session ended. */
  async resetPassword(body: ResetPasswordBody, address: string): Promise<void> {
    const id = tokenId.reset(digest(body.token));
    const entry = await this.deps.tokens.findById(id);
    // take() is the single-use claim: of two concurrent resets with one token only one deletes it.
    if (!entry || entry.kind !== 'password-reset' || entry.expiresAt.getTime() <= Date.now() || !(await this.deps.tokens.take(id))) {
      await this.deps.limits.passwordByAddress.consume(address);
      throw new Invalid('This reset link is invalid, expired or already used; ask for a new one', [{ path: 'token', message: 'is invalid or expired' }]);
    }
    await this.deps.usersService.setPassword(entry.userId, body.newPassword, 'password reset');
    await this.deps.tokens.deleteForUser(entry.userId, 'password-reset');
    this.log.info({ userId: entry.userId.toHexString() }, 'password reset');
  }

  /**
   * Signs in with a provider account. Identities are keyed by (provider, subject). A new provider
   * account joins an existing user only when the provider says the e-mail is verified; otherwise
   * it becomes a new user, whose e-mail is a placeholder if the address is unverified.
   */
  async oauthLogin(profile: OAuthProfile, address: string): Promise<SignedIn> {
    const identity = await this.deps.identities.find(profile.provider, profile.subject);
    let user: UserDocument | null = identity ? await this.deps.users.findById(identity.userId) : null;
    if (!user && profile.email && profile.emailVerified) {
      const owner = await this.deps.users.findByEmail(profile.email);
      if (owner && (await this.link(profile, owner._id))) user = owner;
    }
    user ??= await this.createFromProfile(profile, address);
    if (user.disabled) throw new Forbidden('This account is disabled');
    return { user, session: await this.deps.sessions.start(user._id, user.role) };
  }

  private async link(profile: OAuthProfile, userId: ObjectId): Promise<boolean> {
    return this.deps.identities.insert({
      _id: identityId(profile.provider, profile.subject),
      provider: profile.provider,
      subject: profile.subject,
      userId,
      email: profile.email,
      createdAt: new Date(),
    });
  }

  private async createFromProfile(profile: OAuthProfile, address: string): Promise<UserDocument> {
    await this.deps.limits.register.consume(address);
    const userId = new ObjectId();
    // The identity is written first, under its unique id: of two concurrent first logins with one
    // provider account, the second finds the first's identity instead of creating a twin user.
    if (!(await this.link(profile, userId))) {
      const existing = await this.deps.identities.find(profile.provider, profile.subject);
      const user = existing && (await this.deps.users.findById(existing.userId));
      if (user) return user;
      throw new Conflict('This provider account is being linked by another request; try again');
    }
    const emailFree = profile.email && profile.emailVerified && !(await this.deps.users.findByEmail(profile.email));
    const email = emailFree ? profile.email! : `${profile.provider}-${profile.subject.replace(/[^A-Za-z0-9_-]/g, '')}@users.noreply.invalid`;
    const base = usernameFrom(profile.preferredUsername);
    for (let attempt = 0; ; attempt += 1) {
      const username = attempt === 0 ? base : `${base.slice(0, 27)}-${randomBytes(2).toString('hex')}`;
      try {
        const user = await this.deps.usersService.create({ id: userId, username, email, password: null, oauthProvider: profile.provider });
        this.log.info({ userId: user._id.toHexString(), provider: profile.provider }, 'user registered through OAuth');
        return user;
      } catch (error) {
        const field = error instanceof Conflict ? error.details?.[0]?.path : undefined;
        if (field !== 'username' || attempt >= 5) throw error;
      }
    }
  }
}

/** A valid chatd username (3-32 of letters, digits, _ . -) derived from a provider's name. */
export function usernameFrom(name: string): string {
  const cleaned = name
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .replace(/\s+/g, '_')
    .replace(/[^A-Za-z0-9_.-]/g, '')
    .slice(0, 32);
  return cleaned.length >= 3 ? cleaned : `${cleaned}user`.slice(0, 32).padEnd(3, '0');
}
