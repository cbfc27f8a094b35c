import { mkdirSync, readFileSync } from 'node:fs';
import { ObjectId, type Db, type MongoClient } from 'mongodb';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { register, uniqueAccount, type RegisteredAccount } from '../support/accounts.js';
import { apiClient, type ApiClient } from '../support/api.js';
import { connectTestDb, repoRoot, startChatd, type ChatdServer } from '../support/chatd.js';

// The web app's calls, settings and admin console in real Chromium against a real chatd: people
// click what a person would (found by role and accessible name), two users in separate browser
// contexts with fake cameras, their call's media flowing between the two pages.
const CHROMIUM = '/usr/bin/chromium';
const FLAGS = [
  '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream',
];
const SCREENSHOTS = `${repoRoot}docs/screenshots`;
/** Unanswered calls end after this many seconds here, so the "no answer" case takes seconds. */
const RING_SECONDS = 4;
/** A dropped participant is waited for this long before the call ends. */
const GRACE_SECONDS = 3;

let server: ChatdServer;
let api: ApiClient;
let client: MongoClient;
let db: Db;
let browser: Browser;
const contexts: BrowserContext[] = [];

beforeAll(async () => {
  [server, browser] = await Promise.all([
    startChatd({ env: { BCRYPT_COST: '10', RATE_LIMIT_LOGIN: '1000/15m', RATE_LIMIT_REGISTER: '1000/15m', RATE_LIMIT_PASSWORD: '1000/15m', CALL_RING_TIMEOUT_SECONDS: String(RING_SECONDS), CALL_RECONNECT_GRACE_SECONDS: String(GRACE_SECONDS) } }),
    chromium.launch({ executablePath: CHROMIUM, headless: true, args: FLAGS }),
  ]);
  api = apiClient(server.baseUrl);
  ({ client, db } = await connectTestDb(server.mongoUri!));
  mkdirSync(SCREENSHOTS, { recursive: true });
});

afterAll(async () => {
  await browser?.close();
  await client?.close();
  await server?.stop();
});

/** Waits for `read` to satisfy the matcher that follows, polling (the page changes on its own time). */
const eventually = <T>(read: () => Promise<T>, timeout = 20_000) => expect.poll(read, { timeout, interval: 100 });

/** The app's own origin: localhost is a secure context, where the page may use the camera. */
const origin = () => `http://localhost:${server.httpPort}`;

async function person(prefix: string): Promise<RegisteredAccount> {
  return register(api, uniqueAccount(prefix));
}

/** A browser context of its own (cookies, storage) with the app signed in as `account`. */
async function signIn(account: RegisteredAccount): Promise<Page> {
  const context = await browser.newContext({ baseURL: origin(), viewport: { width: 1200, height: 800 } });
  contexts.push(context);
  // Short enough that a poll reading a missing element tries again within its own timeout; page
  // loads get longer, for a machine busy with other browser tests.
  context.setDefaultTimeout(8_000);
  context.setDefaultNavigationTimeout(30_000);
  const page = await context.newPage();
  const label = `${account.username} #${contexts.length}`;
  const logs: string[] = [];
  page.on('console', (message) => logs.push(`${message.type()}: ${message.text()}`));
  // What each page showed and logged, when a test fails: the browser is gone by the time anyone looks.
  onTestFailed(async () => {
    const text = await page.locator('body').innerText({ timeout: 2000 }).catch((error: Error) => `(unreadable: ${error.message})`);
    console.log(`--- ${label}\n${text}\n${logs.join('\n')}`);
  });
  const problems: string[] = [];
  page.on('pageerror', (error) => problems.push(error.message));
  await page.goto('/signin');
  await page.getByLabel('E-mail').fill(account.email);
  await page.getByLabel('Password').fill(account.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: `Welcome, ${account.username}` }).waitFor({ timeout: 20_000 });
  expect(problems).toEqual([]);
  return page;
}

async function openRoom(page: Page, name: string): Promise<void> {
  await page.getByRole('navigation', { name: 'Rooms' }).getByRole('link', { name: new RegExp(`^${name}`) }).click();
  await page.getByRole('heading', { level: 1, name }).waitFor();
}

async function openMenu(page: Page, item: string): Promise<void> {
  await page.getByRole('button', { name: 'Account menu' }).click();
  await page.getByRole('navigation', { name: 'Account' }).getByRole('link', { name: item }).click();
}

/** Frames the page has decoded in the video element named `label`. */
const framesIn = (page: Page, label: string) => page.getByLabel(label, { exact: true }).evaluate((video: any) => (video.videoWidth > 0 ? video.getVideoPlaybackQuality().totalVideoFrames : 0));

describe('calls in the web app', () => {
  it('rings every device, connects video both ways, ends with its duration, and says why other calls ended', { timeout: 150_000 }, async () => {
    const [alice, bob] = await Promise.all([person('alice'), person('bob')]);
    const direct = await api.post('/api/rooms/direct', { userId: bob.id }, { token: alice.accessToken });
    expect(direct.status).toBe(201);
    // One account's two sign-ins one after the other: concurrent logins of one account answer 500
    // on main at the moment (reported), which is not what this test is about.
    const [a, b] = await Promise.all([signIn(alice), signIn(bob)]);
    const bElsewhere = await signIn(bob);
    await openRoom(a, bob.username);

    // Answered: B's two devices ring, B accepts on one, the other hears it was answered elsewhere.
    await a.getByRole('button', { name: 'Video call' }).click();
    await a.getByRole('dialog', { name: `Calling ${bob.username}…` }).waitFor();
    for (const device of [b, bElsewhere]) {
      const ringing = device.getByRole('alertdialog', { name: 'Incoming video call' });
      await ringing.waitFor();
      await eventually(() => ringing.textContent()).toContain(`${alice.username} is calling you`);
    }
    await b.screenshot({ path: `${SCREENSHOTS}/call-ringing.png` });
    await b.getByRole('button', { name: 'Accept' }).click();
    await eventually(() => bElsewhere.getByRole('dialog', { name: 'Call ended' }).textContent()).toContain('Answered on another device');

    for (const [page, peer] of [[a, bob], [b, alice]] as const) {
      const call = page.getByRole('region', { name: `Video call with ${peer.username}` });
      await eventually(() => call.getByRole('status', { name: 'Connection' }).textContent(), 30_000).toBe('Connected');
      await eventually(() => framesIn(page, `${peer.username}'s video`), 30_000).toBeGreaterThan(0);
      await eventually(() => framesIn(page, 'Your video')).toBeGreaterThan(0);
    }
    await eventually(() => a.getByLabel('Call duration').textContent(), 10_000).toMatch(/^0:0[1-9]|^0:[1-5]\d/);
    await b.getByRole('button', { name: 'Mute' }).click();
    await eventually(() => b.getByRole('button', { name: 'Unmute' }).getAttribute('aria-pressed')).toBe('true');
    await b.screenshot({ path: `${SCREENSHOTS}/call.png` });

    await a.getByRole('button', { name: 'Hang up' }).click();
    for (const [page, words] of [[a, 'You ended the call'], [b, `${alice.username} ended the call`]] as const) {
      const ended = page.getByRole('dialog', { name: 'Call ended' });
      await eventually(() => ended.textContent()).toContain(words);
      await eventually(() => ended.getByLabel('Call duration').textContent()).toMatch(/^\d+:\d\d$/);
      expect(await ended.getByLabel('Call duration').textContent()).not.toBe('0:00');
    }
    await b.screenshot({ path: `${SCREENSHOTS}/call-ended.png` });
    for (const page of [a, b, bElsewhere]) await page.getByRole('button', { name: 'Close' }).click();

    // Rejected.
    await a.getByRole('button', { name: 'Audio call' }).click();
    await b.getByRole('alertdialog', { name: 'Incoming audio call' }).waitFor();
    await b.getByRole('button', { name: 'Reject' }).click();
    await eventually(() => a.getByRole('dialog', { name: 'Call ended' }).textContent()).toContain(`${bob.username} rejected the call`);
    await eventually(() => b.getByRole('dialog', { name: 'Call ended' }).textContent()).toContain('You rejected the call');
    for (const page of [a, b, bElsewhere]) await page.getByRole('button', { name: 'Close' }).click();

    // Nobody answers within the ring timeout.
    await a.getByRole('button', { name: 'Video call' }).click();
    await b.getByRole('alertdialog', { name: 'Incoming video call' }).waitFor();
    await eventually(() => a.getByRole('dialog', { name: 'Call ended' }).textContent(), (RING_SECONDS + 10) * 1000).toContain(`No answer: ${bob.username} did not pick up in time`);
    await eventually(() => b.getByRole('dialog', { name: 'Call ended' }).textContent()).toContain(`Missed call from ${alice.username}`);
    await a.getByRole('button', { name: 'Close' }).click();

    // Busy: B is in a call with a third person when A calls.
    const carol = await person('carol');
    await api.post('/api/rooms/direct', { userId: bob.id }, { token: carol.accessToken });
    const c = await signIn(carol);
    await b.getByRole('button', { name: 'Close' }).click();
    await bElsewhere.getByRole('button', { name: 'Close' }).click();
    await openRoom(c, bob.username);
    await c.getByRole('button', { name: 'Audio call' }).click();
    await b.getByRole('button', { name: 'Accept' }).click();
    await eventually(() => c.getByRole('status', { name: 'Connection' }).textContent(), 30_000).toBe('Connected');
    await a.getByRole('button', { name: 'Audio call' }).click();
    await eventually(() => a.getByRole('dialog', { name: 'Call ended' }).textContent()).toContain(`${bob.username} is busy on another call`);
    await c.getByRole('button', { name: 'Hang up' }).click();
    await a.getByRole('button', { name: 'Close' }).click();
    await b.getByRole('button', { name: 'Close' }).click();

    // B's network goes away mid-call: the server waits out the grace period, then ends the call;
    // B, back online, learns that the call is over.
    await a.getByRole('button', { name: 'Video call' }).click();
    await b.getByRole('button', { name: 'Accept' }).click();
    await eventually(() => a.getByRole('status', { name: 'Connection' }).textContent(), 30_000).toBe('Connected');
    await b.context().setOffline(true);
    await eventually(() => a.getByRole('dialog', { name: 'Call ended' }).textContent(), (GRACE_SECONDS + 15) * 1000).toContain(`Call ended: the connection to ${bob.username} was lost`);
    await b.context().setOffline(false);
    await eventually(() => b.getByRole('dialog', { name: 'Call ended' }).textContent(), 30_000).toContain('Call ended: the connection here was lost');
    await a.getByRole('button', { name: 'Close' }).click();

    // The history, under the account menu, lists every call in words.
    await openMenu(a, 'Call history');
    const history = a.getByRole('table', { name: 'Calls' });
    await eventually(() => history.getByRole('row').count()).toBe(6);
    const results = await history.locator('tbody tr td:nth-child(4)').allTextContents();
    expect(results).toEqual(['Ended: connection lost', 'Busy', 'No answer (timed out)', 'Rejected', 'Ended']);
    const durations = await history.locator('tbody tr td:nth-child(6)').allTextContents();
    expect(durations.slice(1, 4)).toEqual(['—', '—', '—']);
    expect([durations[0], durations[4]]).toEqual([expect.stringMatching(/^\d+:\d\d$/), expect.stringMatching(/^\d+:\d\d$/)]);
    await a.screenshot({ path: `${SCREENSHOTS}/call-history.png` });
  });
});

describe('profile and settings', () => {
  it('shows profile, picture and status changes on another user\'s open page, and a password change ends the other sessions', { timeout: 90_000 }, async () => {
    const [dana, erin] = await Promise.all([person('dana'), person('erin')]);
    await api.post('/api/rooms/direct', { userId: erin.id }, { token: dana.accessToken });
    const [d, e] = await Promise.all([signIn(dana), signIn(erin)]);
    const dElsewhere = await signIn(dana);
    await openRoom(e, dana.username);
    await e.getByRole('button', { name: 'Profile' }).click();
    const profile = e.getByRole('article', { name: `Profile of ${dana.username}` });
    await profile.waitFor();
    const pictureBefore = await profile.getByRole('img').getAttribute('src');

    await openMenu(d, 'Settings');
    await d.getByRole('heading', { level: 1, name: 'Settings' }).waitFor();
    await d.getByLabel('Bio').fill('Keeps bees on the roof');
    await d.getByLabel('Location').fill('Utrecht');
    await d.getByLabel('Website').fill('https://bees.example');
    await d.getByRole('button', { name: 'Save profile' }).click();
    await d.getByText('Profile saved').waitFor();
    await eventually(() => profile.textContent()).toContain('Keeps bees on the roof');
    await eventually(() => profile.textContent()).toContain('Utrecht');
    await profile.getByRole('link', { name: 'https://bees.example' }).waitFor();

    await d.getByLabel('Upload a picture').setInputFiles({ name: 'me.png', mimeType: 'image/png', buffer: readFileSync(`${repoRoot}web/public/icons/icon-512.png`) });
    await d.getByText('Picture updated').waitFor();
    await eventually(() => profile.getByRole('img').getAttribute('src')).not.toBe(pictureBefore ?? '');
    await eventually(() => profile.getByRole('img').getAttribute('src')).toMatch(new RegExp(`/api/users/${dana.id}/avatar\\?v=\\d+$`));
    // The new src starts a download; the picture is shown once it has loaded.
    await eventually(() => profile.getByRole('img').evaluate((img: any) => img.complete && img.naturalWidth)).toBe(256);

    await d.getByLabel('Custom status').fill('Out with the bees');
    await d.getByLabel('Presence').selectOption('away');
    await d.getByRole('button', { name: 'Save status' }).click();
    await eventually(() => profile.textContent()).toContain('away — Out with the bees');

    await d.getByLabel('Direct messages and mentions').check();
    await d.getByLabel('Incoming calls').uncheck();
    await d.getByRole('button', { name: 'Save notification settings' }).click();
    await d.getByText('Notification settings saved').waitFor();
    const stored = await db.collection('users').findOne({ _id: new ObjectId(dana.id) });
    expect(stored!.settings).toMatchObject({ notifications: true, notifyMessages: 'direct', notifyCalls: false, notifySound: true });

    // Blocked users, with unblock.
    expect((await api.post(`/api/auth/block/${erin.id}`, undefined, { token: dana.accessToken })).status).toBe(200);
    await d.reload();
    await d.getByRole('button', { name: `Unblock ${erin.username}` }).waitFor({ timeout: 20_000 });
    await d.getByRole('button', { name: `Unblock ${erin.username}` }).click();
    await d.getByText('You have not blocked anyone.').waitFor();
    expect((await db.collection('users').findOne({ _id: new ObjectId(dana.id) }))!.blockedUsers).toEqual([]);
    await d.getByRole('heading', { level: 1, name: 'Settings' }).scrollIntoViewIfNeeded();
    await d.screenshot({ path: `${SCREENSHOTS}/settings.png` });

    // A new password: this page stays signed in, the other device is signed out.
    await d.getByLabel('Current password').fill(dana.password);
    await d.getByLabel('New password', { exact: true }).fill('N3w!password-for-dana');
    await d.getByLabel('Confirm new password').fill('N3w!password-for-dana');
    await d.getByRole('button', { name: 'Change password' }).click();
    await d.getByText('Password changed. Your other sessions were signed out.').waitFor({ timeout: 20_000 });
    await dElsewhere.getByRole('heading', { name: 'Sign in' }).waitFor({ timeout: 20_000 });
    await d.getByRole('button', { name: 'Back to chat' }).click();
    await d.getByRole('heading', { name: `Welcome, ${dana.username}` }).waitFor();
    expect((await api.post('/api/auth/login', { email: dana.email, password: 'N3w!password-for-dana' })).status).toBe(200);
  });
});

describe('the admin console', () => {
  it('is for administrators only, shows health and backups, and disabling a user signs their open page out at once', { timeout: 90_000 }, async () => {
    const [root, frank] = await Promise.all([person('root'), person('frank')]);
    await db.collection('users').updateOne({ _id: new ObjectId(root.id) }, { $set: { role: 'admin' } });
    const roomName = `Garden ${frank.id.slice(-6)}`;
    const room = (await api.post('/api/rooms', { name: roomName, type: 'private' }, { token: frank.accessToken })).body.room;
    const [admin, f] = await Promise.all([signIn(root), signIn(frank)]);

    // A normal user: no console in the menu, none at its address, and the API refuses them.
    await f.getByRole('button', { name: 'Account menu' }).click();
    const menu = f.getByRole('navigation', { name: 'Account' });
    await menu.getByRole('link', { name: 'Settings' }).waitFor();
    await eventually(() => menu.getByRole('link', { name: 'Admin console' }).count()).toBe(0);
    await f.getByRole('button', { name: 'Account menu' }).click();
    const refused = await f.evaluate(async () => {
      const response = await fetch('/api/admin/users');
      return { status: response.status, body: await response.json() };
    });
    expect(refused).toMatchObject({ status: 403, body: { success: false, error: { code: 'FORBIDDEN' } } });

    await openMenu(admin, 'Admin console');
    await admin.getByRole('heading', { level: 1, name: 'Admin console' }).waitFor();
    const health = admin.getByRole('definition').filter({ hasText: 'database answered' });
    await eventually(() => health.textContent()).toMatch(/^Yes \(database answered in \d+ ms\)$/);
    await admin.getByText(/^\d+ users? on \d+ connections?$/).waitFor();

    await admin.getByRole('button', { name: 'Start a backup' }).click();
    await admin.getByText(/^Backup written: chatd-.+\.tar\.gz$/).waitFor({ timeout: 60_000 });
    const download = admin.getByRole('link', { name: /^Download chatd-.+\.tar\.gz$/ });
    await eventually(() => download.count()).toBe(1);
    const [file] = await Promise.all([admin.waitForEvent('download'), download.click()]);
    expect(file.suggestedFilename()).toMatch(/^chatd-.+\.tar\.gz$/);
    expect(readFileSync((await file.path())!).subarray(0, 2)).toEqual(Buffer.from([0x1f, 0x8b]));

    // Retention of a private room the administrator is not in.
    await admin.getByLabel('Search rooms').fill(roomName);
    await admin.getByRole('button', { name: 'Search', exact: true }).click();
    const rooms = admin.getByRole('table', { name: 'Rooms' });
    await eventually(() => rooms.getByRole('row').count()).toBe(2);
    await rooms.getByLabel(`Retention days for ${roomName}`).fill('30');
    await rooms.getByRole('button', { name: `Save retention for ${roomName}` }).click();
    await admin.getByText(`Retention of ${roomName} set to 30 days`).waitFor();
    await eventually(() => rooms.getByRole('cell', { name: '30 days' }).count()).toBe(1);
    expect((await db.collection('rooms').findOne({ _id: new ObjectId(room._id) }))!.retentionDays).toBe(30);

    await admin.getByLabel('Search users').fill(frank.username);
    const users = admin.getByRole('table', { name: 'Users' });
    await eventually(() => users.getByRole('row').count()).toBe(2);
    await admin.getByRole('heading', { level: 1, name: 'Admin console' }).scrollIntoViewIfNeeded();
    await admin.screenshot({ path: `${SCREENSHOTS}/admin.png` });
    await admin.getByRole('heading', { name: 'Backups' }).evaluate((heading) => heading.scrollIntoView({ block: 'start' }));
    await admin.screenshot({ path: `${SCREENSHOTS}/admin-backups.png` });
    await users.getByRole('button', { name: `Disable ${frank.username}` }).click();
    await users.getByRole('button', { name: `Enable ${frank.username}` }).waitFor();
    // Frank's open page is signed out at once: the server closed his connection, his session is gone.
    await f.getByRole('heading', { name: 'Sign in' }).waitFor({ timeout: 5_000 });

    await users.getByRole('button', { name: `Enable ${frank.username}` }).click();
    await users.getByRole('button', { name: `Reset password of ${frank.username}` }).click();
    await users.getByRole('button', { name: `Confirm password reset for ${frank.username}` }).click();
    const generated = await admin.getByLabel('Generated password').textContent();
    expect((await api.post('/api/auth/login', { email: frank.email, password: generated })).status).toBe(200);
    await users.getByRole('button', { name: `Promote ${frank.username}` }).click();
    await users.getByRole('button', { name: `Demote ${frank.username}` }).waitFor();
    expect((await db.collection('users').findOne({ _id: new ObjectId(frank.id) }))!.role).toBe('admin');
  });
});
