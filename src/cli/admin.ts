import { randomBytes } from 'node:crypto';
import { password as passwordPrompt } from '@inquirer/prompts';
import type { Command } from 'commander';
import { AppError } from '../errors.js';
import { createAccounts, type Accounts } from '../modules/auth/accounts.js';
import { passwordProblem } from '../modules/auth/passwords.js';
import type { UserDocument, UserRole } from '../modules/users/types.js';
import { email as emailSchema, username as usernameSchema } from '../modules/users/schemas.js';
import { offlinePublisher } from '../realtime/publisher.js';
import { askUnlessGiven, type AskMode } from './ask.js';
import { commandLogger, configFor, isInteractive, withDatabase, type GlobalOptions } from './context.js';
import { CliError } from './errors.js';

interface PasswordOptions {
  password?: string;
  passwordStdin?: boolean;
  yes?: boolean;
}

interface CreateOptions extends PasswordOptions {
  username?: string;
  email?: string;
}

/**
 * Opens the database and the same accounts services `chatd serve` uses. Typed service errors
 * (a taken e-mail, an unknown user) become the CLI's one-line errors. A running server notices
 * what these commands do through the database: see sessionRecheckJob.
 */
async function withAccounts<T>(command: Command, work: (accounts: Accounts) => Promise<T>): Promise<T> {
  const config = configFor(command.optsWithGlobals<GlobalOptions>());
  const logger = commandLogger(config);
  return withDatabase(config, logger, async ({ db }) => {
    try {
      return await work(createAccounts({ config, logger, db, realtime: offlinePublisher }));
    } catch (error) {
      if (error instanceof AppError) throw new CliError(error.details?.[0] ? `${error.message} (${error.details[0].path})` : error.message);
      throw error;
    }
  }, { command: 'admin' });
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

/** Whether this run may ask, and if not, why: the reason goes into the error naming what is missing. */
function asking(options: PasswordOptions): AskMode {
  if (options.yes) return { interactive: false, why: '--yes: nothing is asked' };
  if (options.passwordStdin) return { interactive: false, why: 'standard input carries the password: nothing is asked' };
  return isInteractive(options) ? { interactive: true } : { interactive: false, why: 'no terminal to ask on' };
}

/** The new password from --password, --password-stdin, or a hidden prompt (asked twice) on a terminal. */
async function newPasswordFrom(options: PasswordOptions, mode: AskMode): Promise<string> {
  if (options.password !== undefined && options.passwordStdin) throw new CliError('--password and --password-stdin contradict each other; pick one');
  const given = options.passwordStdin ? await readStdin() : options.password;
  if (given !== undefined) {
    const problem = passwordProblem(given);
    if (problem) throw new CliError(problem, 'at least 8 characters with upper- and lower-case letters, a digit and a special character; at most 72 bytes');
    return given;
  }
  if (!mode.interactive) throw new CliError(`a password is required: give --password-stdin or --password (${mode.why})`);
  const chosen = await passwordPrompt({ message: 'Password', mask: '*', validate: (value) => passwordProblem(value) ?? true });
  await passwordPrompt({ message: 'Password again', mask: '*', validate: (value) => value === chosen || 'the two passwords differ' });
  return chosen;
}

/** A random password that meets the policy (for reset-password --generate). */
export function generatePassword(): string {
  return `${randomBytes(15).toString('base64url')}-Aa9`;
}

function describe(user: UserDocument): string {
  return `${user.username} <${user.email}> (${user.role}${user.disabled ? ', disabled' : ''}, id ${user._id.toHexString()})`;
}

export function registerAdmin(program: Command): void {
  const admin = program.command('admin').description('manage accounts: create administrators, list, disable, enable, reset passwords, set roles');

  admin
    .command('create')
    .description('create an administrator (asks on a terminal for what the flags do not give)')
    .option('--username <name>', '3-32 letters, digits, "_", "." or "-"')
    .option('--email <address>', 'e-mail address (unique)')
    .option('--password <password>', 'the password (visible to other local users in the process list: prefer the prompt or --password-stdin)')
    .option('--password-stdin', 'read the password from standard input')
    .option('-y, --yes', 'never prompt: everything must come from flags')
    .action(async (options: CreateOptions, command: Command) => {
      const mode = asking(options);
      const username = await askUnlessGiven(mode, { given: options.username, flag: '--username', message: 'Username', schema: usernameSchema });
      const email = await askUnlessGiven(mode, { given: options.email, flag: '--email', message: 'E-mail', schema: emailSchema });
      const password = await newPasswordFrom(options, mode);
      const user = await withAccounts(command, ({ usersService }) => usersService.create({ username, email, password, role: 'admin' }));
      console.log(`created administrator ${describe(user)}`);
    });

  admin
    .command('list')
    .description('list accounts, 50 at a time')
    .option('--search <prefix>', 'only usernames or e-mails starting with this')
    .option('--page <n>', 'page number', '1')
    .option('--json', 'print JSON lines instead of a table')
    .action(async (options: { search?: string; page: string; json?: boolean }, command: Command) => {
      const page = Number(options.page);
      if (!Number.isInteger(page) || page < 1) throw new CliError(`--page must be a whole number from 1 (got "${options.page}")`);
      const { users, hasMore } = await withAccounts(command, ({ usersService }) => usersService.list({ search: options.search, page, limit: 50 }));
      for (const user of users) {
        if (options.json) {
          console.log(JSON.stringify({ id: user._id.toHexString(), username: user.username, email: user.email, role: user.role, disabled: user.disabled, createdAt: user.createdAt }));
        } else {
          console.log([user._id.toHexString(), user.username.padEnd(20), user.email.padEnd(32), user.role.padEnd(5), user.disabled ? 'disabled' : 'enabled '].join('  '));
        }
      }
      if (!options.json) console.log(users.length === 0 ? 'no users' : hasMore ? `more on --page ${page + 1}` : `${users.length + (page - 1) * 50} user(s)`);
    });

  const standing = [
    { name: 'disable', disabled: true, description: 'disable an account (id, e-mail or username): it cannot log in, its tokens stop working, a running server closes its connections' },
    { name: 'enable', disabled: false, description: 'enable a disabled account (id, e-mail or username)' },
  ];
  for (const { name, disabled, description } of standing) {
    admin
      .command(`${name} <user>`)
      .description(description)
      .action(async (handle: string, _options: unknown, command: Command) => {
        const user = await withAccounts(command, async ({ usersService }) => usersService.setDisabled((await usersService.findByHandle(handle))._id, disabled));
        console.log(`${name}d ${describe(user)}`);
      });
  }

  admin
    .command('reset-password <user>')
    .description('set a new password for an account (id, e-mail or username) and log it out everywhere')
    .option('--password <password>', 'the new password (prefer the prompt or --password-stdin)')
    .option('--password-stdin', 'read the new password from standard input')
    .option('--generate', 'generate a random password and print it')
    .option('-y, --yes', 'never prompt')
    .action(async (handle: string, options: PasswordOptions & { generate?: boolean }, command: Command) => {
      if (options.generate && (options.password !== undefined || options.passwordStdin)) throw new CliError('--generate and a given password contradict each other; pick one');
      const password = options.generate ? generatePassword() : await newPasswordFrom(options, asking(options));
      const user = await withAccounts(command, async ({ usersService }) => usersService.setPassword((await usersService.findByHandle(handle))._id, password, 'password reset by an administrator'));
      console.log(`new password set for ${describe(user)}; every session was logged out`);
      if (options.generate) console.log(`password: ${password}`);
    });

  admin
    .command('set-role <user> <role>')
    .description('make an account (id, e-mail or username) an administrator (admin) or a regular user (user)')
    .action(async (handle: string, role: string, _options: unknown, command: Command) => {
      if (role !== 'admin' && role !== 'user') throw new CliError(`role must be admin or user (got "${role}")`);
      const user = await withAccounts(command, async ({ usersService }) => usersService.setRole((await usersService.findByHandle(handle))._id, role as UserRole));
      console.log(`role of ${describe(user)} is now ${role}`);
    });
}
