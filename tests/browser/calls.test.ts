import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Db, MongoClient } from 'mongodb';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiClient } from '../support/api.js';
import { connectTestDb, startChatd, type ChatdServer } from '../support/chatd.js';
import { createUser } from '../support/factories.js';
import { createRoom } from '../support/rooms.js';

// Two headless Chromium pages, two users: a real WebRTC call whose offer, answer and ICE
// candidates travel through chatd's hub and nothing else. Debian's chromium, never a download.
const CHROMIUM = '/usr/bin/chromium';
const FLAGS = [
  '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream',
];
const page = readFileSync(new URL('./call-page.html', import.meta.url));

let pages: Server;
let origin: string;
let server: ChatdServer;
let client: MongoClient;
let db: Db;
let browser: Browser;

/** Serves the test page from http://localhost:<port>, a secure context where getUserMedia exists. */
function servePage(): Promise<Server> {
  const http = createServer((req, res) => {
    if (req.url?.split('?')[0] === '/call.html') {
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' }).end(page);
    } else {
      res.writeHead(404).end();
    }
  });
  return new Promise((resolve) => http.listen(0, '127.0.0.1', () => resolve(http)));
}

beforeAll(async () => {
  pages = await servePage();
  origin = `http://localhost:${(pages.address() as AddressInfo).port}`;
  [server, browser] = await Promise.all([
    startChatd({ env: { CORS_ORIGIN: origin } }),
    chromium.launch({ executablePath: CHROMIUM, headless: true, args: FLAGS }),
  ]);
  ({ client, db } = await connectTestDb(server.mongoUri!));
});

afterAll(async () => {
  await browser?.close();
  await client?.close();
  await server?.stop();
  await new Promise((resolve) => pages?.close(resolve));
});

const state = (p: Page) => p.evaluate(() => (globalThis as any).state);
const until = (p: Page, predicate: string, timeout = 30_000) => p.waitForFunction(predicate, undefined, { timeout, polling: 100 });

type Connect = 'native' | 'socket.io';

/**
 * Alice calls Bob from two pages in separate contexts, each speaking the given transport: the
 * call connects, carries a data channel message and video both ways, with signaling through chatd only.
 */
async function callBetween(callerTransport: Connect, calleeTransport: Connect): Promise<void> {
  const [alice, bob] = await Promise.all([createUser(db), createUser(db)]);
  const room = await createRoom(db, [alice._id, bob._id]);
  // Separate contexts: two users share nothing but chatd.
  const a = await (await browser.newContext()).newPage();
  const b = await (await browser.newContext()).newPage();
  const pageLogs: string[] = [];
  for (const [name, p] of [['A', a], ['B', b]] as const) {
    p.on('console', (message) => pageLogs.push(`${name} ${message.type()}: ${message.text()}`));
    p.on('pageerror', (error) => pageLogs.push(`${name} pageerror: ${error.message}`));
    await p.goto(`${origin}/call.html`);
  }
  try {
    for (const [p, user, transport] of [[a, alice, callerTransport], [b, bob, calleeTransport]] as const) {
      const args = { wsUrl: server.wsUrl, apiUrl: server.baseUrl, token: user.token, me: user.id };
      const me = transport === 'native'
        ? await p.evaluate((connect) => (globalThis as any).chatd.connect(connect), args)
        : await p.evaluate((connect) => (globalThis as any).chatd.connectSocketIo(connect), args);
      expect(me).toBe(user.id);
    }

    const callId = await a.evaluate(({ to, roomId }) => (globalThis as any).chatd.call(to, roomId), { to: bob.id, roomId: room.id });
    await until(b, '!!window.state.incoming');
    expect((await state(b)).incoming).toEqual({ callId, callerId: alice.id, callerName: alice.username, callType: 'video', roomId: room.id });
    await b.evaluate(() => (globalThis as any).chatd.accept());

    await Promise.all([until(a, "window.state.pcState === 'connected'"), until(b, "window.state.pcState === 'connected'")]);

    await Promise.all([until(a, 'window.state.dcOpen'), until(b, 'window.state.dcOpen')]);
    await a.evaluate(() => (globalThis as any).chatd.say('hello from A'));
    await b.evaluate(() => (globalThis as any).chatd.say('hello from B'));
    await until(b, "window.state.dcMessages.includes('hello from A')");
    await until(a, "window.state.dcMessages.includes('hello from B')");

    // Frames decoded from the other side's fake camera, and the remote <video> playing them.
    await Promise.all([
      until(a, 'window.state.framesReceived >= 5 && window.state.remoteVideo.currentTime > 0'),
      until(b, 'window.state.framesReceived >= 5 && window.state.remoteVideo.currentTime > 0'),
    ]);
    const [sa, sb] = [await state(a), await state(b)];
    for (const s of [sa, sb]) {
      expect(s.remoteVideo.width).toBeGreaterThan(0);
      expect(s.remoteVideo.height).toBeGreaterThan(0);
      expect(s.errors).toEqual([]);
    }
    // The negotiation went through the hub: the callee got the offer, the caller the answer, both candidates.
    expect(sb.received).toContain('webrtc_offer');
    expect(sa.received).toContain('webrtc_answer');
    expect(sa.received).toContain('ice_candidate');
    expect(sb.received).toContain('ice_candidate');

    const hangUp = await a.evaluate(() => (globalThis as any).chatd.hangUp());
    expect(hangUp).toMatchObject({ event: 'call_ended', data: { callId, status: 'ended', reason: 'hangup' } });
    await until(b, '!!window.state.ended');
    const [call] = (await apiClient(server.baseUrl).get('/api/calls', { token: bob.token })).body.calls;
    expect(call).toMatchObject({ _id: callId, status: 'ended', endReason: 'hangup', callType: 'video', direction: 'incoming' });
    expect(call.answeredAt).not.toBeNull();
  } catch (error) {
    throw new Error(`${(error as Error).message}\nbrowser console:\n${pageLogs.join('\n')}`);
  }
}

describe('a call between two browsers', () => {
  it('connects, carries a data channel message and video both ways, with signaling through chatd only', async () => {
    await callBetween('native', 'native');
  }, 120_000);

  it('connects a spec client (socket.io-client in the browser, through the REST port) with a page on /ws', async () => {
    await callBetween('socket.io', 'native');
  }, 120_000);
});
