import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parse as parseDotenv } from 'dotenv';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { loadConfig } from '../../src/config/load.js';
import { configSchema } from '../../src/config/schema.js';
import { repoRoot, runChatd } from '../support/chatd.js';

const tempDir = () => mkdtempSync(join(tmpdir(), 'chatd-init-'));
const read = (dir: string, path: string) => readFileSync(join(dir, path), 'utf8');
const knownVariables = new Set(Object.keys((configSchema as unknown as { _zod: { def: { shape?: object; in?: { _zod: { def: { shape: object } } } } } })._zod.def.shape ?? {}));

/** `[Section]` → key → values, as systemd reads a unit (comments and blank lines skipped). */
function parseUnit(text: string): Record<string, Record<string, string[]>> {
  const sections: Record<string, Record<string, string[]>> = {};
  let current: Record<string, string[]> | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const section = /^\[(\w+)\]$/.exec(line);
    if (section) {
      current = sections[section[1]!] = {};
      continue;
    }
    const [key, ...value] = line.split('=');
    expect(current, `line outside a section: ${line}`).toBeDefined();
    (current![key!] ??= []).push(value.join('='));
  }
  return sections;
}

/** The body of the first `name { ... }` block, braces balanced. */
function block(text: string, opening: RegExp): string {
  const match = opening.exec(text);
  expect(match, `no block ${opening}`).not.toBeNull();
  let depth = 0;
  for (let index = match!.index + match![0].length - 1; index < text.length; index++) {
    if (text[index] === '{') depth += 1;
    if (text[index] === '}' && --depth === 0) return text.slice(match!.index + match![0].length, index);
  }
  throw new Error(`unbalanced block ${opening}`);
}

function expectNoPlaceholders(dir: string, files: string[]) {
  for (const file of files) expect(read(dir, file), file).not.toMatch(/\{\{|\}\}/);
}

describe('chatd init renders the deployment templates', () => {
  it('MongoDB in Docker Compose behind an https origin: compose with mongo:7, proxy snippets, a .env chatd accepts', async () => {
    const dir = tempDir();
    const result = await runChatd(['init', '--yes', '--compose-mongodb', '--public-url', 'https://chat.example.com', '--port', '4100', '--ws-port', '4101'], { cwd: dir });
    expect(result.code, result.stderr).toBe(0);
    expect(readdirSync(join(dir, 'deploy')).sort()).toEqual(['Caddyfile', 'docker-compose.yml', 'nginx.conf']);
    expect(result.stdout).toMatch(/^next: docker compose -f deploy\/docker-compose\.yml up -d --build$/m);
    expectNoPlaceholders(dir, ['.env', 'deploy/docker-compose.yml', 'deploy/Caddyfile', 'deploy/nginx.conf']);

    const env = parseDotenv(readFileSync(join(dir, '.env')));
    expect(env).toMatchObject({ MONGODB_URI: 'mongodb://mongo:27017/chatd', TRUST_PROXY: 'true', HOST: '127.0.0.1', PUBLIC_URL: 'https://chat.example.com', BACKUP_CRON: '0 3 * * *', PORT: '4100', WS_PORT: '4101' });
    const config = loadConfig({ cwd: dir, env: {} });
    expect(config).toMatchObject({ BACKUP_CRON: '0 3 * * *', BACKUP_KEEP: 7, TRUST_PROXY: true });
    expect(config.RETENTION_DAYS).toBeUndefined();
    expect(config.BACKUP_DIR).toBe(join(dir, 'data', 'backups'));

    const compose = parseYaml(read(dir, 'deploy/docker-compose.yml')) as { services: Record<string, any>; volumes: Record<string, unknown> };
    expect(Object.keys(compose.services).sort()).toEqual(['chatd', 'mongo']);
    expect(compose.services.mongo.image).toBe('mongo:7');
    expect(compose.services.mongo.healthcheck.test).toContain('mongosh');
    const chatd = compose.services.chatd;
    expect(chatd.depends_on).toEqual({ mongo: { condition: 'service_healthy' } });
    expect(resolve(dir, 'deploy', chatd.env_file)).toBe(join(dir, '.env'));
    expect(chatd.environment).toEqual({ MONGODB_URI: 'mongodb://mongo:27017/chatd', HOST: '0.0.0.0', CHATD_DATA_DIR: '/data' });
    expect(Object.keys(chatd.environment).filter((name) => !knownVariables.has(name))).toEqual([]);
    expect(chatd.ports).toEqual(['127.0.0.1:4100:4100', '127.0.0.1:4101:4101']);
    expect(chatd.volumes).toEqual(['chatd-data:/data']);
    expect(existsSync(join(resolve(dir, 'deploy', chatd.build), 'Dockerfile'))).toBe(true);
    expect(resolve(dir, 'deploy', chatd.build)).toBe(resolve(repoRoot));
    expect(Object.keys(compose.volumes).sort()).toEqual(['chatd-data', 'mongo-data']);

    const caddy = read(dir, 'deploy/Caddyfile');
    const site = block(caddy, /^chat\.example\.com \{/m);
    expect(site).toMatch(/@hub path \/ws \/ws\/\* \/socket\.io\/\*$/m);
    expect(block(site, /handle @hub \{/)).toMatch(/^\s*reverse_proxy 127\.0\.0\.1:4101$/m);
    expect(block(site, /handle \{/)).toMatch(/^\s*reverse_proxy 127\.0\.0\.1:4100$/m);

    const nginx = read(dir, 'deploy/nginx.conf');
    expect(block(nginx, /upstream chatd_api \{/)).toMatch(/server 127\.0\.0\.1:4100;/);
    expect(block(nginx, /upstream chatd_hub \{/)).toMatch(/server 127\.0\.0\.1:4101;/);
    const tls = block(nginx, /server \{(?=[^}]*listen 443 ssl)/);
    expect(tls).toMatch(/server_name chat\.example\.com;/);
    expect(tls).toMatch(/ssl_certificate\s+\/etc\/letsencrypt\/live\/chat\.example\.com\/fullchain\.pem;/);
    for (const location of [/location = \/ws \{/, /location \/socket\.io\/ \{/]) {
      const hub = block(tls, location);
      expect(hub).toMatch(/proxy_pass http:\/\/chatd_hub;/);
      expect(hub).toMatch(/proxy_http_version 1\.1;/);
      expect(hub).toMatch(/proxy_set_header Upgrade \$http_upgrade;/);
      expect(hub).toMatch(/proxy_set_header Connection \$chatd_connection_upgrade;/);
    }
    expect(block(tls, /location \/ \{/)).toMatch(/proxy_pass http:\/\/chatd_api;/);
    expect(block(nginx, /map \$http_upgrade \$chatd_connection_upgrade \{/)).toMatch(/default upgrade;/);
    expect(block(nginx, /server \{(?=[^}]*listen 80;)/)).toMatch(/return 301 https:\/\/\$host\$request_uri;/);
  });

  it('an external MongoDB: compose with chatd alone and a systemd unit for an unprivileged user', async () => {
    const dir = tempDir();
    const result = await runChatd(['init', '--yes', '--mongodb-uri', 'mongodb://db.lan:27017/chat', '--service-user', 'chat', '--data-dir', './state'], { cwd: dir });
    expect(result.code, result.stderr).toBe(0);
    expect(readdirSync(join(dir, 'deploy')).sort()).toEqual(['Caddyfile', 'chatd.service', 'docker-compose.yml', 'nginx.conf']);
    expectNoPlaceholders(dir, ['.env', 'deploy/docker-compose.yml', 'deploy/chatd.service']);
    expect(parseDotenv(readFileSync(join(dir, '.env')))).toMatchObject({ MONGODB_URI: 'mongodb://db.lan:27017/chat', TRUST_PROXY: 'false', HOST: '0.0.0.0' });

    const compose = parseYaml(read(dir, 'deploy/docker-compose.yml')) as { services: Record<string, any> };
    expect(Object.keys(compose.services)).toEqual(['chatd']);
    expect(compose.services.chatd.environment).toEqual({ HOST: '0.0.0.0', CHATD_DATA_DIR: '/data' });
    expect(compose.services.chatd.ports).toEqual(['3000:3000', '3001:3001']);

    const unit = parseUnit(read(dir, 'deploy/chatd.service'));
    expect(Object.keys(unit)).toEqual(['Unit', 'Service', 'Install']);
    const service = unit.Service!;
    expect(service.User).toEqual(['chat']);
    expect(service.Group).toEqual(['chat']);
    expect(service.WorkingDirectory).toEqual([dir]);
    expect(service.ReadWritePaths).toEqual([join(dir, 'state')]);
    const [node, bin, command] = service.ExecStart![0]!.split(' ');
    expect(node).toBe(process.execPath);
    expect(bin).toBe(join(repoRoot, 'bin', 'chatd'));
    expect(existsSync(bin!)).toBe(true);
    expect(command).toBe('serve');
    for (const [key, value] of Object.entries({ NoNewPrivileges: 'true', ProtectSystem: 'strict', PrivateTmp: 'true', Restart: 'on-failure', KillSignal: 'SIGTERM', CapabilityBoundingSet: '' })) {
      expect(service[key], key).toEqual([value]);
    }
    expect(unit.Install!.WantedBy).toEqual(['multi-user.target']);
  });

  it('the embedded database: no compose file (the image cannot run it), the unit and the snippets', async () => {
    const dir = tempDir();
    const result = await runChatd(['init', '--yes'], { cwd: dir });
    expect(result.code, result.stderr).toBe(0);
    expect(readdirSync(join(dir, 'deploy')).sort()).toEqual(['Caddyfile', 'chatd.service', 'nginx.conf']);
    expect(result.stdout).toMatch(/no docker-compose\.yml: the image cannot run the embedded database/);
    expect(result.stdout).toMatch(/^next: chatd serve$/m);
    expect(read(dir, 'deploy/Caddyfile')).toMatch(/^localhost \{/m);
    expect(statSync(join(dir, '.env')).mode & 0o777).toBe(0o600);
  });

  it('refuses to overwrite any file without --force and writes nothing; --force rewrites them all', async () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'deploy'));
    writeFileSync(join(dir, 'deploy', 'nginx.conf'), '# mine\n');
    const refused = await runChatd(['init', '--yes'], { cwd: dir });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^chatd: .*deploy\/nginx\.conf already exists; nothing was changed$/m);
    expect(refused.stderr).toMatch(/--force/);
    expect(existsSync(join(dir, '.env'))).toBe(false);
    expect(readdirSync(join(dir, 'deploy'))).toEqual(['nginx.conf']);
    expect(read(dir, 'deploy/nginx.conf')).toBe('# mine\n');

    const forced = await runChatd(['init', '--yes', '--force'], { cwd: dir });
    expect(forced.code, forced.stderr).toBe(0);
    expect(read(dir, 'deploy/nginx.conf')).toMatch(/upstream chatd_hub/);
    expect(existsSync(join(dir, '.env'))).toBe(true);
  });

  it('--no-deploy writes only .env; --backup-cron "" turns scheduled backups off; bad flags are one line', async () => {
    const dir = tempDir();
    const result = await runChatd(['init', '--yes', '--no-deploy', '--backup-cron', ''], { cwd: dir });
    expect(result.code, result.stderr).toBe(0);
    expect(existsSync(join(dir, 'deploy'))).toBe(false);
    expect(loadConfig({ cwd: dir, env: {} }).BACKUP_CRON).toBeUndefined();

    const badCron = await runChatd(['init', '--yes', '--backup-cron', 'every day'], { cwd: tempDir() });
    expect(badCron.code).toBe(1);
    expect(badCron.stderr.split('\n')[0]).toBe('chatd: --backup-cron must be a cron expression such as "0 3 * * *" (five fields, or six with seconds first) (got "every day")');
    expect(badCron.stderr).toMatch(/"" for no scheduled backups/);
    const badUser = await runChatd(['init', '--yes', '--service-user', 'Root User'], { cwd: tempDir() });
    expect(badUser.code).toBe(1);
    expect(badUser.stderr).toMatch(/--service-user must be a system user name/);
    const contradiction = await runChatd(['init', '--yes', '--compose-mongodb', '--embedded'], { cwd: tempDir() });
    expect(contradiction.code).toBe(1);
    expect(contradiction.stderr).toMatch(/--embedded and --compose-mongodb contradict each other/);
  });

  it('checks its settings by the rules chatd serve applies, across settings too, writing nothing on a bad one', async () => {
    const samePortsDir = tempDir();
    const samePorts = await runChatd(['init', '--yes', '--port', '4100', '--ws-port', '4100'], { cwd: samePortsDir });
    expect(samePorts.code).toBe(1);
    expect(samePorts.stderr.split('\n')[0]).toBe('chatd: WS_PORT must differ from PORT (both are 4100); nothing was changed');
    expect(existsSync(join(samePortsDir, '.env'))).toBe(false);
    const badOrigin = await runChatd(['init', '--yes', '--cors-origin', 'https://ok.example,ftp://no.example'], { cwd: tempDir() });
    expect(badOrigin.code).toBe(1);
    expect(badOrigin.stderr.split('\n')[0]).toBe('chatd: --cors-origin each entry must be * or an http:// or https:// origin such as https://chat.example.com (scheme, host and port only: no path, no trailing slash) (got "https://ok.example,ftp://no.example")');
  });
});
