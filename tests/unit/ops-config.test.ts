import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/load.js';

const base = { JWT_SECRET: 'a'.repeat(40), JWT_REFRESH_SECRET: 'b'.repeat(40) };
const load = (env: Record<string, string>) => loadConfig({ cwd: '/srv/chat', env: { ...base, ...env } });

describe('operations settings', () => {
  it('defaults: no scheduled backups, seven kept, backups under the data directory, a nightly retention sweep, no retention limit', () => {
    const config = load({});
    expect(config.BACKUP_CRON).toBeUndefined();
    expect(config.BACKUP_KEEP).toBe(7);
    expect(config.BACKUP_DIR).toBe('/srv/chat/data/backups');
    expect(config.RETENTION_CRON).toBe('30 4 * * *');
    expect(config.RETENTION_DAYS).toBeUndefined();
  });

  it('takes cron expressions with or without seconds and resolves BACKUP_DIR against the working directory', () => {
    const config = load({ BACKUP_CRON: '*/10 * * * * *', BACKUP_DIR: 'elsewhere', RETENTION_DAYS: '90', CHATD_DATA_DIR: '/var/lib/chatd' });
    expect(config.BACKUP_CRON).toBe('*/10 * * * * *');
    expect(config.BACKUP_DIR).toBe('/srv/chat/elsewhere');
    expect(config.RETENTION_DAYS).toBe(90);
    expect(load({ CHATD_DATA_DIR: '/var/lib/chatd' }).BACKUP_DIR).toBe('/var/lib/chatd/backups');
  });

  it('names each bad setting', () => {
    try {
      load({ BACKUP_CRON: 'every night', BACKUP_KEEP: '0', RETENTION_DAYS: '-3', RETENTION_CRON: '61 * * * *' });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      const problems = Object.fromEntries((error as ConfigError).problems.map((problem) => [problem.variable, problem.message]));
      expect(Object.keys(problems).sort()).toEqual(['BACKUP_CRON', 'BACKUP_KEEP', 'RETENTION_CRON', 'RETENTION_DAYS']);
      expect(problems.BACKUP_CRON).toMatch(/must be a cron expression/);
      expect(problems.BACKUP_KEEP).toMatch(/greater than 0/);
    }
  });
});
