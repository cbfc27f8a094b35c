import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { BSON, Binary, Double, Int32, Long, MongoClient, ObjectId, type Db } from 'mongodb';
import { TEST_JWT_REFRESH_SECRET, TEST_JWT_SECRET, freePort } from './chatd.js';

// Helpers for the operations tests: exact digests of a database and an uploads directory, the
// embedded database a data directory's running chatd serves, and documents shaped as
// docs/data-model.md describes them.

export interface CollectionDigest {
  count: number;
  /** SHA-256 of every document's canonical Extended JSON (types intact), sorted. */
  hashes: string[];
  indexes: string[];
}

/** Every collection (locks and the message index aside: a live process's, never backed up) with its documents' content hashes. */
export async function databaseDigest(db: Db): Promise<Record<string, CollectionDigest>> {
  const digest: Record<string, CollectionDigest> = {};
  for (const { name } of await db.listCollections({}, { nameOnly: true }).toArray()) {
    if (name === 'locks' || name === 'message_index' || name.startsWith('system.')) continue;
    const hashes: string[] = [];
    for await (const document of db.collection(name).find({}, { promoteValues: false, promoteLongs: false, promoteBuffers: false })) {
      hashes.push(createHash('sha256').update(BSON.EJSON.stringify(document, { relaxed: false })).digest('hex'));
    }
    const indexes = (await db.collection(name).listIndexes().toArray()).map((index) => `${index.name}:${JSON.stringify(index.key)}:${index.unique ? 'unique' : ''}`);
    digest[name] = { count: hashes.length, hashes: hashes.sort(), indexes: indexes.sort() };
  }
  return digest;
}

/** Relative path → SHA-256 of every file below `dir`. */
export function uploadsDigest(dir: string): Record<string, string> {
  const result: Record<string, string> = {};
  const walk = (current: string, prefix: string) => {
    let names: string[];
    try {
      names = readdirSync(current);
    } catch {
      return;
    }
    for (const name of names) {
      const path = join(current, name);
      const relative = prefix ? `${prefix}/${name}` : name;
      if (statSync(path).isDirectory()) walk(path, relative);
      else result[relative] = createHash('sha256').update(readFileSync(path)).digest('hex');
    }
  };
  walk(dir, '');
  return result;
}

/** Connects to the embedded database a running `chatd serve` owns on `dataDir`. */
export async function connectEmbedded(dataDir: string): Promise<{ client: MongoClient; db: Db }> {
  const state = JSON.parse(readFileSync(join(dataDir, 'db', 'embedded.json'), 'utf8')) as { uri: string };
  const client = new MongoClient(`${state.uri}/chatd?directConnection=true`, { serverSelectionTimeoutMS: 5000 });
  await client.connect();
  return { client, db: client.db('chatd') };
}

/** The environment a CLI command needs for this data directory (and database, when a URI is given). */
export async function cliEnv(dataDir: string, mongoUri?: string, extra: Record<string, string> = {}): Promise<Record<string, string | undefined>> {
  const port = await freePort();
  let wsPort = await freePort();
  while (wsPort === port) wsPort = await freePort();
  return {
    NODE_ENV: 'test',
    CHATD_DATA_DIR: dataDir,
    MONGODB_URI: mongoUri,
    JWT_SECRET: TEST_JWT_SECRET,
    JWT_REFRESH_SECRET: TEST_JWT_REFRESH_SECRET,
    PORT: String(port),
    WS_PORT: String(wsPort),
    ...extra,
  };
}

export function writeUpload(dataDir: string, relative: string, content: Buffer | string): void {
  const path = join(dataDir, 'uploads', relative);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, content);
}

export const daysAgo = (days: number, from = Date.now()) => new Date(from - days * 86_400_000);

const storedIds = (messages: { _id: string }[]) => messages.map((message) => new ObjectId(message._id));

/** Makes messages the API returned `days` old, in one update: time passes for them. */
export async function backdate(db: Db, messages: { _id: string }[], days: number): Promise<void> {
  await db.collection('messages').updateMany({ _id: { $in: storedIds(messages) } }, { $set: { createdAt: daysAgo(days) } });
}

/** The ids of those messages that are still stored, sorted. */
export async function stillStored(db: Db, messages: { _id: string }[]): Promise<string[]> {
  const rows = await db.collection('messages').find({ _id: { $in: storedIds(messages) } }, { projection: { _id: 1 } }).toArray();
  return rows.map((row) => row._id.toHexString()).sort();
}

/** A user document as the users module writes it. */
export function userDoc(overrides: Record<string, unknown> = {}) {
  const _id = new ObjectId();
  const username = `user_${_id.toHexString().slice(-8)}`;
  return {
    _id,
    username,
    usernameLower: username,
    email: `${username}@example.com`,
    passwordHash: '$2b$10$abcdefghijklmnopqrstuuJ7iYV7oWm0c8p3v0sJ0E3Cw8Ck7v2W',
    avatar: null,
    bio: 'ünïcödé ✓',
    settings: { theme: 'dark', notifications: true, encryption: false },
    status: 'offline',
    lastSeen: new Date(),
    blockedUsers: [] as ObjectId[],
    isPremium: false,
    oauthProvider: null,
    role: 'user',
    disabled: false,
    sessionsValidAfter: new Date(0),
    createdAt: new Date(),
    updatedAt: new Date(),
    ...overrides,
  };
}

export function roomDoc(createdBy: ObjectId, overrides: Record<string, unknown> = {}) {
  const _id = new ObjectId();
  return { _id, name: `room ${_id.toHexString().slice(-6)}`, type: 'public', description: '', createdBy, memberCount: 1, directKey: `room:${_id.toHexString()}`, lastMessageAt: new Date(), createdAt: new Date(), updatedAt: new Date(), ...overrides };
}

export function membershipDoc(roomId: ObjectId, userId: ObjectId) {
  return { _id: new ObjectId(), roomId, userId, role: 'member', joinedAt: new Date() };
}

export function messageDoc(roomId: ObjectId, senderId: ObjectId, overrides: Record<string, unknown> = {}) {
  const _id = (overrides._id as ObjectId | undefined) ?? new ObjectId();
  const createdAt = (overrides.createdAt as Date | undefined) ?? new Date();
  return {
    _id,
    roomId,
    senderId,
    content: `message ${_id.toHexString()}`,
    messageType: 'text',
    encrypted: false,
    readBy: [] as unknown[],
    reactions: [] as unknown[],
    editHistory: [] as unknown[],
    isDeleted: false,
    clientMsgId: `c-${_id.toHexString()}`,
    createdAt,
    updatedAt: createdAt,
    ...overrides,
  };
}

export function fileDoc(ownerId: ObjectId, storedName: string, content: Buffer | string, overrides: Record<string, unknown> = {}) {
  const bytes = Buffer.from(content);
  return { _id: new ObjectId(), ownerId, fileName: `${storedName}.bin`, storedName, mimeType: 'application/octet-stream', size: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex'), createdAt: new Date(), ...overrides };
}

/** Values of every BSON type a backup must carry through unchanged. */
export function oddTypes() {
  return {
    int32: new Int32(7),
    int64: Long.fromString('9007199254740993'),
    double: new Double(1),
    fraction: 0.1,
    binary: new Binary(Buffer.from([0, 1, 2, 255])),
    date: new Date('1999-12-31T23:59:59.999Z'),
    nested: [{ deep: [null, true, 'x'] }],
    text: 'line\nbreak "quoted" \u2028 emoji 🎉',
  };
}
