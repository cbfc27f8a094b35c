import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ObjectId, type Db, type MongoClient } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { detectEngine } from '../../src/db/engine.js';
import { migrate } from '../../src/db/migrate.js';
import { createLogger } from '../../src/logger.js';
import { sweepRetention } from '../../src/ops/retention/sweep.js';
import { offlinePublisher } from '../../src/realtime/publisher.js';
import { createServices, type Services } from '../../src/services.js';
import { connectTestDb, TEST_JWT_REFRESH_SECRET, TEST_JWT_SECRET, testDatabaseUri } from '../support/chatd.js';
import { daysAgo, fileDoc, messageDoc, roomDoc, userDoc } from '../support/ops.js';

const logger = createLogger({ level: 'silent', pretty: false });
let client: MongoClient;
let db: Db;
let dataDir: string;
let uploadsDir: string;
let services: Services;

beforeAll(async () => {
  const uri = testDatabaseUri('retention');
  ({ client, db } = await connectTestDb(uri));
  await migrate(db, { logger });
  dataDir = mkdtempSync(join(tmpdir(), 'chatd-retention-'));
  uploadsDir = join(dataDir, 'uploads');
  // The services exactly as `chatd serve` wires them: retention goes through the modules' own services.
  const config = loadConfig({ cwd: dataDir, env: { CHATD_DATA_DIR: dataDir, MONGODB_URI: uri, JWT_SECRET: TEST_JWT_SECRET, JWT_REFRESH_SECRET: TEST_JWT_REFRESH_SECRET, BCRYPT_COST: '10' } });
  services = createServices({ config, logger, db, engine: await detectEngine(db), realtime: offlinePublisher });
});
afterAll(async () => {
  await client.close();
});

const sweep = (globalDays: number | undefined, now: Date) => sweepRetention({ rooms: services.rooms, messages: services.messages, globalDays, now });

function attachment(file: { _id: ObjectId }) {
  return { messageType: 'file', fileAttachment: { fileId: file._id, fileName: 'x.bin', fileSize: 1, fileUrl: `/api/files/${file._id.toHexString()}`, mimeType: 'application/octet-stream' } };
}

describe('the message retention sweep', () => {
  it('deletes messages past their room\'s or the global limit, then the uploads no remaining message uses', async () => {
    const now = new Date();
    mkdirSync(uploadsDir, { recursive: true });
    const alice = userDoc();
    await db.collection('users').insertOne(alice);
    const plain = roomDoc(alice._id);
    const short = roomDoc(alice._id, { retentionDays: 2 });
    const forever = roomDoc(alice._id, { retentionDays: 0 });
    const nulled = roomDoc(alice._id, { retentionDays: null });
    await db.collection('rooms').insertMany([plain, short, forever, nulled]);

    const store = (name: string, content: string) => {
      writeFileSync(join(uploadsDir, name), content);
      return fileDoc(alice._id, name, content);
    };
    const onlyOld = store('only-old', 'one');
    const shared = store('shared', 'two');
    const unsent = store('unsent', 'three');
    const softDeleted = store('soft-deleted', 'four');
    const escaping = store('../outside', 'five');
    writeFileSync(join(uploadsDir, '..', 'outside'), 'must survive');
    await db.collection('files').insertMany([onlyOld, shared, unsent, softDeleted, escaping]);

    const old = (room: { _id: ObjectId }, days: number, extra: Record<string, unknown> = {}) => messageDoc(room._id, alice._id, { createdAt: daysAgo(days, now.getTime()), ...extra });
    const goneRoom = new ObjectId();
    const doomed = [
      old(plain, 40),
      old(plain, 31, attachment(onlyOld)),
      old(plain, 35, attachment(shared)),
      old(plain, 33, attachment(softDeleted)),
      old(plain, 36, attachment(escaping)),
      old(short, 3),
      old(nulled, 45),
      messageDoc(goneRoom, alice._id, { createdAt: daysAgo(50, now.getTime()) }),
    ];
    // A deleted message does not keep its file: it is no longer shared (the files module's rule).
    const kept = [old(plain, 10), old(plain, 1, attachment(shared)), old(plain, 1, { ...attachment(softDeleted), isDeleted: true }), old(short, 1), old(forever, 400), old(nulled, 29)];
    await db.collection('messages').insertMany([...doomed, ...kept]);

    const result = await sweep(30, now);
    // The row naming a path outside the uploads directory goes, but not the bytes it names: that failure is logged, not counted.
    expect(result).toEqual({ messages: doomed.length, files: 2 });

    const remaining = await db.collection('messages').find({ _id: { $in: [...doomed, ...kept].map((message) => message._id) } }).toArray();
    expect(remaining.map((message) => String(message._id)).sort()).toEqual(kept.map((message) => String(message._id)).sort());
    const files = await db.collection('files').find({ _id: { $in: [onlyOld, shared, unsent, softDeleted, escaping].map((file) => file._id) } }).toArray();
    expect(files.map((file) => file.storedName).sort()).toEqual(['shared', 'unsent']);
    expect(existsSync(join(uploadsDir, 'only-old'))).toBe(false);
    expect(existsSync(join(uploadsDir, 'soft-deleted'))).toBe(false);
    expect(readFileSync(join(uploadsDir, 'shared'), 'utf8')).toBe('two');
    expect(readFileSync(join(uploadsDir, 'unsent'), 'utf8')).toBe('three');
    expect(readFileSync(join(uploadsDir, '..', 'outside'), 'utf8')).toBe('must survive');

    // A second sweep finds nothing more.
    expect(await sweep(30, now)).toEqual({ messages: 0, files: 0 });
  });

  it('without RETENTION_DAYS only rooms with their own limit are swept, in batches however many expired', async () => {
    const now = new Date();
    const bob = userDoc();
    await db.collection('users').insertOne(bob);
    const busy = roomDoc(bob._id, { retentionDays: 7 });
    const open = roomDoc(bob._id);
    await db.collection('rooms').insertMany([busy, open]);
    const expired = Array.from({ length: 1234 }, (_, i) => messageDoc(busy._id, bob._id, { createdAt: daysAgo(8 + (i % 5), now.getTime()) }));
    await db.collection('messages').insertMany(expired);
    await db.collection('messages').insertMany([messageDoc(busy._id, bob._id, { createdAt: daysAgo(6, now.getTime()) }), messageDoc(open._id, bob._id, { createdAt: daysAgo(900, now.getTime()) })]);

    const result = await sweep(undefined, now);
    expect(result.messages).toBe(1234);
    expect(await db.collection('messages').countDocuments({ roomId: busy._id })).toBe(1);
    expect(await db.collection('messages').countDocuments({ roomId: open._id })).toBe(1);
  });
});
