import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db, MongoClient } from 'mongodb';
import { detectEngine } from '../../src/db/engine.js';
import { fitIndexes, indexLayout } from '../../src/db/index-layout.js';
import { migrate } from '../../src/db/migrate.js';
import { createLogger } from '../../src/logger.js';
import { connectTestDb, testDatabaseUri } from '../support/chatd.js';

const logger = createLogger({ level: 'silent', pretty: false });
let client: MongoClient;
let db: Db;

beforeAll(async () => {
  ({ client, db } = await connectTestDb(testDatabaseUri('index_layout')));
});
afterAll(async () => {
  await client.close();
});

async function indexNames(name: string): Promise<string[]> {
  return (await db.collection(name).listIndexes().toArray()).map((index) => String(index.name)).sort();
}

describe('the index layout per engine', () => {
  it('keeps only the unique indexes on the embedded database after migrating: the others cost every insert and no query reads them', async () => {
    expect(await detectEngine(db)).toBe('ferretdb');
    await migrate(db, { logger });
    expect(await indexNames('messages')).toEqual(['_id_', 'sender_client_msg_unique']);
    for (const [name, layout] of Object.entries(indexLayout)) {
      expect(await indexNames(name)).toEqual(['_id_', ...layout.filter((index) => index.unique).map((index) => index.name!)].sort());
    }
    // The one that stays still refuses a second message under one clientMsgId.
    await db.collection('messages').insertOne({ senderId: 'u1', clientMsgId: 'c1', roomId: 'r' });
    await expect(db.collection('messages').insertOne({ senderId: 'u1', clientMsgId: 'c1', roomId: 'r' })).rejects.toMatchObject({ code: 11000 });
  });

  it('creates every index of the layout for MongoDB (a restore there of an embedded backup), and drops them again for the embedded engine', async () => {
    await fitIndexes(db, 'mongodb');
    for (const [name, layout] of Object.entries(indexLayout)) {
      expect(await indexNames(name)).toEqual(['_id_', ...layout.map((index) => index.name!)].sort());
    }
    await fitIndexes(db, 'mongodb');
    expect(await indexNames('messages')).toEqual(['_id_', 'attachment', 'room_changes', 'room_history', 'sender_client_msg_unique']);
    await fitIndexes(db, 'ferretdb');
    expect(await indexNames('messages')).toEqual(['_id_', 'sender_client_msg_unique']);
  });
});
