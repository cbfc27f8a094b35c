import { readdirSync } from 'node:fs';
import { join as joinPath } from 'node:path';
import { ObjectId } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join, messagingFixture, send, type MessagingFixture, type TestUser } from '../support/messaging.js';

const LIMIT = 4096;
const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==', 'base64');

let fx: MessagingFixture;
let uploadsDir: string;

beforeAll(async () => {
  fx = await messagingFixture({ env: { MAX_UPLOAD_BYTES: String(LIMIT) } });
  uploadsDir = joinPath(fx.server.dataDir, 'uploads');
});
afterAll(async () => {
  await fx?.close();
});

function upload(user: TestUser | undefined, bytes: Buffer, fileName: string, type = 'application/octet-stream', field = 'file') {
  const form = new FormData();
  form.append(field, new Blob([bytes], { type }), fileName);
  return fx.api.call('POST', '/api/files', undefined, { token: user?.token, raw: form });
}

function download(user: TestUser, fileId: string) {
  return fetch(`${fx.server.baseUrl}/api/files/${fileId}`, { headers: { Authorization: `Bearer ${user.token}` } });
}

describe('POST /api/files', () => {
  it('stores an upload under a generated name with its type from its magic bytes', async () => {
    const [alice] = await fx.users(1);
    const response = await upload(alice, PNG, 'pixel.txt', 'text/plain');
    expect(response.status).toBe(201);
    expect(response.body.file).toMatchObject({ fileName: 'pixel.txt', fileSize: PNG.length, mimeType: 'image/png' });
    expect(response.body.file.fileUrl).toBe(`/api/files/${response.body.file.fileId}`);
    const stored = await fx.db.collection('files').findOne({ _id: new ObjectId(response.body.file.fileId as string) });
    expect(stored).toMatchObject({ ownerId: new ObjectId(alice!.id), size: PNG.length, mimeType: 'image/png' });
    expect(stored!.storedName).toMatch(/^[0-9a-f]{32}$/);
    expect(stored!.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(readdirSync(uploadsDir)).toContain(stored!.storedName);
  });

  it('stores a path-traversal file name under a generated name and keeps only its last part', async () => {
    const [alice] = await fx.users(1);
    const before = new Set(readdirSync(uploadsDir));
    const response = await upload(alice, Buffer.from('#!/bin/sh\necho owned\n'), '../../../../tmp/evil.sh');
    expect(response.status).toBe(201);
    expect(response.body.file).toMatchObject({ fileName: 'evil.sh', mimeType: 'application/octet-stream' });
    const added = readdirSync(uploadsDir).filter((name) => !before.has(name));
    expect(added).toHaveLength(1);
    expect(added[0]).toMatch(/^[0-9a-f]{32}$/);
    expect(readdirSync(fx.server.dataDir).sort()).toEqual(['uploads']);
  });

  it('accepts exactly the limit and refuses one byte over with 413, leaving nothing on disk', async () => {
    const [alice] = await fx.users(1);
    expect((await upload(alice, Buffer.alloc(LIMIT, 0x61), 'exact.bin')).status).toBe(201);
    const before = readdirSync(uploadsDir).sort();
    const over = await upload(alice, Buffer.alloc(LIMIT + 1, 0x61), 'over.bin');
    expect(over).toMatchObject({ status: 413, body: { success: false, error: { code: 'PAYLOAD_TOO_LARGE' } } });
    expect(readdirSync(uploadsDir).sort()).toEqual(before);
    const huge = await upload(alice, Buffer.alloc(LIMIT * 64, 0x61), 'huge.bin');
    expect(huge.status).toBe(413);
    expect(readdirSync(uploadsDir).sort()).toEqual(before);
    expect(await fx.db.collection('files').countDocuments({ fileName: { $in: ['over.bin', 'huge.bin'] } })).toBe(0);
  });

  it('refuses uploads that are not one non-empty file in multipart field "file"', async () => {
    const [alice] = await fx.users(1);
    const before = readdirSync(uploadsDir).sort();
    expect((await fx.api.post('/api/files', { file: 'x' }, { token: alice!.token })).status).toBe(415);
    expect((await upload(alice, PNG, 'a.png', 'image/png', 'attachment')).status).toBe(400);
    expect((await upload(alice, Buffer.alloc(0), 'empty.bin')).status).toBe(400);
    const two = new FormData();
    two.append('file', new Blob([PNG]), 'one.png');
    two.append('file', new Blob([PNG]), 'two.png');
    expect((await fx.api.call('POST', '/api/files', undefined, { token: alice!.token, raw: two })).status).toBe(400);
    expect((await upload(undefined, PNG, 'anon.png')).status).toBe(401);
    expect(readdirSync(uploadsDir).sort()).toEqual(before);
  });

  it('answers every refused multi-file upload with 400 and leaves nothing behind, even with a write in flight', async () => {
    const [alice] = await fx.users(1);
    const before = readdirSync(uploadsDir).sort();
    const statuses: number[] = [];
    for (let attempt = 0; attempt < 40; attempt++) {
      const two = new FormData();
      two.append('file', new Blob([PNG]), 'one.png');
      two.append('file', new Blob([PNG]), 'two.png');
      statuses.push((await fx.api.call('POST', '/api/files', undefined, { token: alice!.token, raw: two })).status);
    }
    expect(new Set(statuses)).toEqual(new Set([400]));
    expect(readdirSync(uploadsDir).sort()).toEqual(before);
  });
});

describe('GET /api/files/:id', () => {
  it('serves the uploader and members of rooms where the file is shared; everyone else gets the same 404', async () => {
    const [alice, bob, mallory] = await fx.users(3);
    const roomId = await fx.room(alice!, [bob!]);
    const file = (await upload(alice, PNG, 'pixel.png', 'image/png')).body.file;
    // Before it is shared only the uploader may read it.
    expect((await download(alice!, file.fileId)).status).toBe(200);
    expect((await download(bob!, file.fileId)).status).toBe(404);

    const a = await fx.connect(alice!);
    const message = await send(a, roomId, 'look', { fileAttachment: { fileId: file.fileId } });
    expect(message).toMatchObject({ messageType: 'image', fileAttachment: { fileId: file.fileId, fileName: 'pixel.png', mimeType: 'image/png', fileSize: PNG.length } });

    const asBob = await download(bob!, file.fileId);
    expect(asBob.status).toBe(200);
    expect(Buffer.from(await asBob.arrayBuffer())).toEqual(PNG);
    expect(asBob.headers.get('content-type')).toBe('image/png');
    expect(asBob.headers.get('content-disposition')).toMatch(/^inline/);
    expect(asBob.headers.get('x-content-type-options')).toBe('nosniff');

    const outsider = await download(mallory!, file.fileId);
    const nothing = await download(mallory!, new ObjectId().toHexString());
    expect(outsider.status).toBe(404);
    expect(await outsider.text()).toEqual(await nothing.text());
    expect((await download(mallory!, 'not-an-id')).status).toBe(400);
  });

  it('serves anything but safe images as an attachment, whatever the client claimed', async () => {
    const [alice] = await fx.users(1);
    const html = (await upload(alice, Buffer.from('<html><script>alert(1)</script></html>'), 'page.png', 'image/png')).body.file;
    expect(html.mimeType).toBe('application/octet-stream');
    const response = await download(alice!, html.fileId);
    expect(response.headers.get('content-type')).toBe('application/octet-stream');
    expect(response.headers.get('content-disposition')).toBe('attachment; filename="page.png"');
    expect(response.headers.get('x-content-type-options')).toBe('nosniff');
  });

  it('refuses to attach a file the sender did not upload', async () => {
    const [alice, bob] = await fx.users(2);
    const roomId = await fx.room(alice!, [bob!]);
    const file = (await upload(alice, PNG, 'mine.png')).body.file;
    const b = await fx.connect(bob!);
    const reply = await b.request('send_message', { roomId, content: 'stolen', fileAttachment: { fileId: file.fileId } });
    expect(reply).toMatchObject({ event: 'error', data: { code: 'FORBIDDEN' } });
    const missing = await b.request('send_message', { roomId, content: 'ghost', fileAttachment: { fileId: new ObjectId().toHexString() } });
    expect(missing.data).toEqual(reply.data);
  });

  it('makes the file unreachable, and removes it from disk, when the message sharing it is deleted', async () => {
    const [alice, bob] = await fx.users(2);
    const roomId = await fx.room(alice!, [bob!]);
    const file = (await upload(alice, PNG, 'gone.png')).body.file;
    const storedName = (await fx.db.collection('files').findOne({ _id: new ObjectId(file.fileId as string) }))!.storedName as string;
    const [a, b] = await Promise.all([fx.connect(alice!), fx.connect(bob!)]);
    await join(b, roomId);
    const message = await send(a, roomId, 'soon gone', { fileAttachment: { fileId: file.fileId } });
    expect((await download(bob!, file.fileId)).status).toBe(200);
    expect((await a.request('delete_message', message._id)).data.message).toMatchObject({ isDeleted: true, fileAttachment: null });
    expect((await download(bob!, file.fileId)).status).toBe(404);
    expect((await download(alice!, file.fileId)).status).toBe(404);
    expect(readdirSync(uploadsDir)).not.toContain(storedName);
    const history = await fx.api.get(`/api/messages?roomId=${roomId}`, { token: bob!.token });
    expect(history.body.messages[0]).toMatchObject({ isDeleted: true, fileAttachment: null, content: null });
  });
});
