import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Db, MongoClient } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectTestDb, repoRoot, startChatd, type ChatdServer } from '../support/chatd.js';
import { runProcess, type ProcessResult } from '../support/process.js';

let server: ChatdServer;
let client: MongoClient;
let db: Db;

beforeAll(async () => {
  server = await startChatd({ env: { BCRYPT_COST: '10' } });
  ({ client, db } = await connectTestDb(server.mongoUri!));
});
afterAll(async () => {
  await client?.close();
  await server?.stop();
});

/** The shell block between the api-examples markers of README.md, unchanged. */
function readmeExamples(): string {
  const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');
  const section = /<!-- api-examples:start -->\s*```sh\n([\s\S]*?)```\s*<!-- api-examples:end -->/.exec(readme);
  if (!section) throw new Error('README.md has no api-examples block');
  return section[1]!;
}

function bash(script: string, env: Record<string, string>): Promise<ProcessResult> {
  // -e -u -o pipefail: a failing command or an unset variable stops the run instead of going unnoticed.
  return runProcess('bash', ['-euo', 'pipefail', '-c', script], { env: { ...process.env, ...env } });
}

describe("README's curl examples", () => {
  it('run verbatim against chatd serve and every call succeeds', async () => {
    const script = readmeExamples();
    expect(script).toMatch(/curl -s -X POST "\$CHATD\/api\/auth\/register"/);
    const result = await bash(script, { CHATD: server.baseUrl });
    expect(result.code, `stderr: ${result.stderr}\nstdout: ${result.stdout}`).toBe(0);
    expect(result.stdout).not.toContain('"success": false');
    for (const message of ['Registration successful', 'Login successful', 'Token refreshed', 'Profile updated', 'User blocked', 'User unblocked', 'Password changed', 'Logged out']) {
      expect(result.stdout).toContain(`"message": "${message}`);
    }
    expect(result.stdout).toContain('"email": "alice@example.com"');

    const alice = await db.collection('users').findOne({ email: 'alice@example.com' });
    const bob = await db.collection('users').findOne({ email: 'bob@example.com' });
    expect(alice).toMatchObject({ bio: 'Hello!', location: 'Lyon', website: 'https://example.com', settings: { theme: 'dark' }, blockedUsers: [] });
    expect(bob).not.toBeNull();
    // Logged out at the end: nothing of alice's sessions is left to refresh.
    expect(await db.collection('tokens').countDocuments({ userId: alice!._id, kind: 'refresh' })).toBe(0);
  }, 120_000);
});
