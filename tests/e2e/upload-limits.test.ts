import { existsSync, readdirSync } from 'node:fs';
import { join as joinPath } from 'node:path';
import { ObjectId } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectError } from '../support/accounts.js';
import { messagingFixture, type MessagingFixture, type TestUser } from '../support/messaging.js';
import { until } from '../support/wait.js';

const MAX_FILE = 4096;
const QUOTA = 10_000;

let fx: MessagingFixture;
/** A second server whose sweep removes uploads no message carried within 3 seconds (the first keeps them a day). */
let sweeping: MessagingFixture;
let uploadsDir: string;

beforeAll(async () => {
  const limits = { MAX_UPLOAD_BYTES: String(MAX_FILE), UPLOAD_QUOTA_BYTES: String(QUOTA), RATE_LIMIT_UPLOAD: '6/10m' };
  fx = await messagingFixture({ env: limits });
  sweeping = await messagingFixture({ env: { ...limits, UPLOAD_UNATTACHED_TTL: '3s', UPLOAD_SWEEP_CRON: '* * * * * *' } });
  uploadsDir = joinPath(fx.server.dataDir, 'uploads');
});
afterAll(async () => {
  await Promise.all([fx?.close(), sweeping?.close()]);
});

function upload(user: TestUser, bytes: number | Buffer, fileName = 'data.bin', on: MessagingFixture = fx) {
  const form = new FormData();
  form.append('file', new Blob([typeof bytes === 'number' ? Buffer.alloc(bytes, 0x61) : bytes]), fileName);
  return on.api.call('POST', '/api/files', undefined, { token: user.token, raw: form });
}

const fileRow = (fileId: string, on: MessagingFixture = fx) => on.db.collection('files').findOne({ _id: new ObjectId(fileId) });

describe('storage quota per user (UPLOAD_QUOTA_BYTES)', () => {
  it('accepts uploads up to the quota and refuses the next with 413 QUOTA_EXCEEDED, writing nothing', async () => {
    const [alice, bob] = await fx.users(2);
    for (const size of [MAX_FILE, MAX_FILE, QUOTA - 2 * MAX_FILE]) expect((await upload(alice!, size)).status).toBe(201);
    const before = readdirSync(uploadsDir).sort();
    const over = await upload(alice!, 1);
    expectError(over, 413, 'QUOTA_EXCEEDED');
    expect(over.body.error.message).toContain('UPLOAD_QUOTA_BYTES');
    expect(readdirSync(uploadsDir).sort()).toEqual(before);
    expect(await fx.db.collection('files').countDocuments({ ownerId: new ObjectId(alice!.id) })).toBe(3);
    // Another user's quota is their own.
    expect((await upload(bob!, MAX_FILE)).status).toBe(201);
  });

  it('refuses a file that would cross the quota, while a smaller one still fits', async () => {
    const [alice] = await fx.users(1);
    for (let i = 0; i < 2; i++) expect((await upload(alice!, MAX_FILE)).status).toBe(201);
    const over = await upload(alice!, MAX_FILE);
    expectError(over, 413, 'QUOTA_EXCEEDED');
    expect(over.body.error.message).toMatch(/would take your uploads to/);
    expect((await upload(alice!, 1000)).status).toBe(201);
  });

  it('holds under parallel uploads: of five 4 KiB files at once, only two fit in 10 000 bytes', async () => {
    const [alice] = await fx.users(1);
    const statuses = (await Promise.all(Array.from({ length: 5 }, () => upload(alice!, MAX_FILE)))).map((response) => response.status);
    expect(statuses.filter((status) => status === 201)).toHaveLength(2);
    expect(statuses.filter((status) => status === 413)).toHaveLength(3);
    const rows = await fx.db.collection('files').find({ ownerId: new ObjectId(alice!.id) }).toArray();
    expect(rows.reduce((sum, row) => sum + (row.size as number), 0)).toBeLessThanOrEqual(QUOTA);
  });
});

describe('upload rate per user (RATE_LIMIT_UPLOAD)', () => {
  it('answers the 7th upload within the window with 429, Retry-After and the setting, and writes nothing', async () => {
    const [alice, bob] = await fx.users(2);
    for (let i = 0; i < 6; i++) expect((await upload(alice!, 10)).status).toBe(201);
    const before = readdirSync(uploadsDir).sort();
    const limited = await upload(alice!, 10);
    expectError(limited, 429, 'RATE_LIMITED');
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(limited.body.error).toMatchObject({ setting: 'RATE_LIMIT_UPLOAD', retryAfter: Number(limited.headers.get('retry-after')) });
    expect(readdirSync(uploadsDir).sort()).toEqual(before);
    expect((await upload(bob!, 10)).status).toBe(201);
  });
});

describe('uploads no message carries (UPLOAD_UNATTACHED_TTL)', () => {
  it('removes an upload never sent, row and bytes, and keeps one a message carries', async () => {
    const [alice] = await sweeping.users(1);
    const roomId = await sweeping.room(alice!);
    const kept = (await upload(alice!, 100, 'sent.bin', sweeping)).body.file;
    const sent = await sweeping.api.post('/api/messages', { roomId, content: 'here', fileAttachment: { fileId: kept.fileId } }, { token: alice!.token });
    expect(sent.status, JSON.stringify(sent.body)).toBe(201);
    const orphan = (await upload(alice!, 100, 'never-sent.bin', sweeping)).body.file;
    const orphanBytes = joinPath(sweeping.server.dataDir, 'uploads', (await fileRow(orphan.fileId, sweeping))!.storedName as string);
    expect(existsSync(orphanBytes)).toBe(true);

    await until('the unattached upload is removed', async () => (await fileRow(orphan.fileId, sweeping)) === null);
    expect(existsSync(orphanBytes)).toBe(false);
    expectError(await sweeping.api.get(`/api/files/${orphan.fileId}`, { token: alice!.token }), 404, 'NOT_FOUND');
    // Attaching it now is refused like any file that is not there.
    expectError(await sweeping.api.post('/api/messages', { roomId, content: 'late', fileAttachment: { fileId: orphan.fileId } }, { token: alice!.token }), 403, 'FORBIDDEN');

    // The sent one, uploaded before the removed one, is still there.
    expect(await fileRow(kept.fileId, sweeping)).not.toBeNull();
    const download = await fetch(`${sweeping.server.baseUrl}/api/files/${kept.fileId}`, { headers: { Authorization: `Bearer ${alice!.token}` } });
    expect(download.status).toBe(200);
    expect((await download.arrayBuffer()).byteLength).toBe(100);
  });

  it('gives the quota back when an unsent upload is removed', async () => {
    const [alice] = await sweeping.users(1);
    for (let i = 0; i < 2; i++) expect((await upload(alice!, MAX_FILE, 'data.bin', sweeping)).status).toBe(201);
    expectError(await upload(alice!, MAX_FILE, 'data.bin', sweeping), 413, 'QUOTA_EXCEEDED');
    await until('the unsent uploads are removed', async () => (await sweeping.db.collection('files').countDocuments({ ownerId: new ObjectId(alice!.id) })) === 0);
    expect((await upload(alice!, MAX_FILE, 'data.bin', sweeping)).status).toBe(201);
  });

  it('leaves files stored before uploads were marked (no flag) alone', async () => {
    const [alice] = await sweeping.users(1);
    const legacy = { _id: new ObjectId(), ownerId: new ObjectId(alice!.id), fileName: 'old.bin', storedName: 'f'.repeat(32), mimeType: 'application/octet-stream', size: 1, sha256: '', createdAt: new Date(Date.now() - 86_400_000) };
    await sweeping.db.collection('files').insertOne(legacy);
    const marker = (await upload(alice!, 10, 'data.bin', sweeping)).body.file;
    await until('a newer unsent upload is removed', async () => (await fileRow(marker.fileId, sweeping)) === null);
    expect(await fileRow(legacy._id.toHexString(), sweeping)).not.toBeNull();
  });
});

describe('stored file names', () => {
  it('strips bidirectional overrides, zero-width and other control characters', async () => {
    const [alice] = await fx.users(1);
    const roomId = await fx.room(alice!);
    const spoofed = (await upload(alice!, 10, 'invoice\u202Egpj.exe')).body.file;
    expect(spoofed.fileName).toBe('invoicegpj.exe');
    const hidden = (await upload(alice!, 10, '\u2067report\u2069\u200B\u0085.pdf')).body.file;
    expect(hidden.fileName).toBe('report.pdf');
    expect(await fileRow(hidden.fileId)).toMatchObject({ fileName: 'report.pdf' });
    const sent = await fx.api.post('/api/messages', { roomId, content: 'see', fileAttachment: { fileId: spoofed.fileId } }, { token: alice!.token });
    expect(sent.body.message.fileAttachment.fileName).toBe('invoicegpj.exe');
  });
});
