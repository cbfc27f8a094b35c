import { createHash } from 'node:crypto';
import { mkdtempSync, utimesSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ArchiveWriter } from '../../src/ops/backup/archive.js';
import { ARCHIVE_FORMAT, ARCHIVE_FORMAT_VERSION, collectionEntryName, type Manifest } from '../../src/ops/backup/manifest.js';
import { defaultArchiveName, listBackups, pruneBackups } from '../../src/ops/backup/store.js';
import { verifyArchive } from '../../src/ops/backup/verify.js';

const dir = mkdtempSync(join(tmpdir(), 'chatd-archive-unit-'));
let counter = 0;
const sha = (content: string) => createHash('sha256').update(content).digest('hex');

interface Crafted {
  entries: [string, string][];
  manifest?: (manifest: Manifest) => unknown;
  /** Entries written after the manifest. */
  trailing?: [string, string][];
}

/** Writes an archive the way chatd would, then lets a test bend one thing in it. */
async function craft({ entries, manifest: bend = (m) => m, trailing = [] }: Crafted): Promise<string> {
  const path = join(dir, `crafted-${++counter}.tar.gz`);
  const writer = new ArchiveWriter(path);
  const digests: Manifest['entries'] = {};
  for (const [name, content] of entries) digests[name] = await writer.addBuffer(name, Buffer.from(content));
  const documents = entries.filter(([name]) => name.startsWith('collections/'));
  const manifest: Manifest = {
    format: ARCHIVE_FORMAT,
    formatVersion: ARCHIVE_FORMAT_VERSION,
    chatdVersion: '0.1.0',
    createdAt: new Date().toISOString(),
    finishedAt: new Date().toISOString(),
    snapshotAt: new Date().toISOString(),
    database: { kind: 'mongodb', name: 'chatd' },
    migrations: ['0001-initial'],
    lastMigration: '0001-initial',
    collections: [{ name: 'users', count: documents.reduce((sum, [, content]) => sum + content.split('\n').length - 1, 0), indexes: [], entries: documents.map(([name]) => name) }],
    uploads: { files: entries.length - documents.length, bytes: 0 },
    entries: digests,
  };
  await writer.addBuffer('manifest.json', Buffer.from(JSON.stringify(bend(manifest))));
  for (const [name, content] of trailing) await writer.addBuffer(name, Buffer.from(content));
  await writer.finish();
  return path;
}

const users = collectionEntryName('users', 1);
const good: [string, string][] = [
  [users, '{"_id":{"$oid":"65a000000000000000000001"}}\n{"_id":{"$oid":"65a000000000000000000002"}}\n'],
  ['uploads/avatar.png', 'png bytes'],
];

describe('archive verification', () => {
  it('accepts an intact archive', async () => {
    const { manifest, documents } = await verifyArchive(await craft({ entries: good }));
    expect(documents).toBe(2);
    expect(manifest.entries['uploads/avatar.png']).toEqual({ sha256: sha('png bytes'), size: 9 });
  });

  it.each([
    ['an entry the manifest does not list', { entries: good, manifest: (m: Manifest) => ({ ...m, entries: { [users]: m.entries[users] }, uploads: { files: 0, bytes: 0 } }) }, /uploads\/avatar\.png is not listed in the manifest/],
    ['a listed entry that is missing', { entries: good, manifest: (m: Manifest) => ({ ...m, entries: { ...m.entries, 'uploads/gone.png': { sha256: sha('x'), size: 1 } } }) }, /uploads\/gone\.png is listed in the manifest but missing/],
    ['a wrong checksum', { entries: good, manifest: (m: Manifest) => ({ ...m, entries: { ...m.entries, 'uploads/avatar.png': { sha256: sha('other'), size: 9 } } }) }, /avatar\.png does not match its SHA-256 checksum/],
    ['a wrong document count', { entries: good, manifest: (m: Manifest) => ({ ...m, collections: [{ ...m.collections[0]!, count: 3 }] }) }, /collection users holds 2 documents, the manifest says 3/],
    ['a path that climbs out of the uploads directory', { entries: [...good, ['uploads/../../etc/cron.d/evil', 'x']] as [string, string][] }, /unexpected entry uploads\/\.\.\/\.\.\/etc\/cron\.d\/evil/],
    ['an entry after the manifest', { entries: good, trailing: [['uploads/late.png', 'x']] as [string, string][] }, /uploads\/late\.png follows the manifest/],
    ['a newer backup format', { entries: good, manifest: (m: Manifest) => ({ ...m, formatVersion: ARCHIVE_FORMAT_VERSION + 1 }) }, /newer than this chatd understands/],
    ['another program\'s manifest', { entries: good, manifest: () => ({ hello: 'world' }) }, /not a chatd backup/],
    ['a part cut in the middle of a document', { entries: [[users, '{"_id":1}\n{"_id":'], good[1]!] as [string, string][], manifest: (m: Manifest) => ({ ...m, collections: [{ ...m.collections[0]!, count: 1 }] }) }, /ends in the middle of a document/],
  ])('refuses %s', async (_label, crafted, message) => {
    await expect(verifyArchive(await craft(crafted as Crafted))).rejects.toThrow(message);
  });

  it('refuses an archive without a manifest', async () => {
    const path = join(dir, 'no-manifest.tar.gz');
    const writer = new ArchiveWriter(path);
    await writer.addBuffer(users, Buffer.from('{}\n'));
    await writer.finish();
    await expect(verifyArchive(path)).rejects.toThrow(/has no manifest/);
  });
});

describe('the backups directory', () => {
  it('names archives by time and prunes all but the newest, leaving other files alone', async () => {
    const backups = mkdtempSync(join(tmpdir(), 'chatd-prune-'));
    expect(defaultArchiveName(new Date('2025-01-31T03:00:00.123Z'))).toBe('chatd-2025-01-31T03-00-00-123Z.tar.gz');
    const names = [0, 1, 2, 3].map((day) => defaultArchiveName(new Date(Date.UTC(2025, 0, 1 + day))));
    names.forEach((name, index) => {
      writeFileSync(join(backups, name), name);
      utimesSync(join(backups, name), new Date(Date.UTC(2025, 0, 1 + index)), new Date(Date.UTC(2025, 0, 1 + index)));
    });
    writeFileSync(join(backups, 'notes.txt'), 'mine');
    writeFileSync(join(backups, `.${names[0]}.999999999.partial`), 'left by a crash');
    writeFileSync(join(backups, `.${names[0]}.${process.pid}.partial`), 'being written');

    expect((await listBackups(backups)).map((backup) => backup.name)).toEqual([...names].reverse());
    const removed = await pruneBackups(backups, 2);
    expect(removed.map((path) => path.split('/').pop()).sort()).toEqual([names[0], names[1], `.${names[0]}.999999999.partial`].sort());
    expect((await listBackups(backups)).map((backup) => backup.name)).toEqual([names[3], names[2]]);
    expect(existsSync(join(backups, 'notes.txt'))).toBe(true);
    expect(existsSync(join(backups, `.${names[0]}.${process.pid}.partial`))).toBe(true);
  });
});
