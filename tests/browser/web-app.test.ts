import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot, startChatd, type ChatdServer } from '../support/chatd.js';
import { startSmtpSink } from '../support/smtp-sink.js';

// The web app as people use it: Debian's Chromium against a real `chatd serve`, two users in two
// browser contexts, everything found by role and accessible name.
const CHROMIUM = '/usr/bin/chromium';
const FLAGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const MAX_UPLOAD_BYTES = 200_000;
const SCREENSHOTS = join(repoRoot, 'docs', 'screenshots');
const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };
const TIMEOUT = 15_000;

let server: ChatdServer;
let smtp: Awaited<ReturnType<typeof startSmtpSink>>;
let browser: Browser;
let site: string;
// This file's chatd has a database of its own, so the names are free (and the screenshots stable).
const alice = { username: 'alice', email: 'alice@example.test', password: 'Garden!Gate7' };
const bob = { username: 'bob', email: 'bob@example.test', password: 'River#Stone8' };
let alicePage: Page;
let bobPage: Page;
let aliceContext: BrowserContext;
const pageErrors: string[] = [];

beforeAll(async () => {
  smtp = await startSmtpSink();
  [server, browser] = await Promise.all([
    startChatd({
      env: {
        BCRYPT_COST: '10',
        SMTP_URL: smtp.url,
        MAX_UPLOAD_BYTES: String(MAX_UPLOAD_BYTES),
        RATE_LIMIT_REGISTER: '100/15m',
        RATE_LIMIT_LOGIN: '100/15m',
        RATE_LIMIT_PASSWORD: '100/15m',
      },
    }),
    chromium.launch({ executablePath: CHROMIUM, headless: true, args: FLAGS }),
  ]);
  // The address users open (PUBLIC_URL): the hub accepts this origin.
  site = `http://localhost:${server.httpPort}`;
  mkdirSync(SCREENSHOTS, { recursive: true });
});

afterAll(async () => {
  await browser?.close();
  await server?.stop();
  await smtp?.stop();
});

async function newPage(context?: BrowserContext): Promise<Page> {
  const page = await (context ?? (await browser.newContext({ viewport: DESKTOP }))).newPage();
  page.setDefaultTimeout(TIMEOUT);
  page.on('pageerror', (error) => pageErrors.push(error.message));
  return page;
}

async function signUp(page: Page, account: typeof alice): Promise<void> {
  await page.goto(`${site}/signup`);
  await page.getByLabel('Username').fill(account.username);
  await page.getByLabel('E-mail').fill(account.email);
  await page.getByLabel('Password', { exact: true }).fill(account.password);
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.getByRole('heading', { name: `Welcome, ${account.username}` }).waitFor();
}

const log = (page: Page) => page.getByRole('log');
const message = (page: Page, text: string) => log(page).getByRole('listitem').filter({ hasText: text });
const composer = (page: Page) => page.getByRole('textbox', { name: 'Message', exact: true });

/** A small valid PNG (a sky-to-grass gradient), made here so the test needs no fixture file. */
function png(width: number, height: number): Buffer {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (buffer: Buffer) => {
    let c = 0xffffffff;
    for (const byte of buffer) c = crcTable[(c ^ byte) & 0xff]! ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type: string, data: Buffer) => {
    const body = Buffer.concat([Buffer.from(type), data]);
    const length = Buffer.alloc(4);
    length.writeUInt32BE(data.length);
    const sum = Buffer.alloc(4);
    sum.writeUInt32BE(crc(body));
    return Buffer.concat([length, body, sum]);
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([8, 2, 0, 0, 0], 8);
  const rowAt = (y: number) => {
    const t = y / height;
    const colour = t < 0.65 ? [Math.round(90 + 100 * t), Math.round(160 + 60 * t), 235] : [60, Math.round(150 - 40 * t), 70];
    return Buffer.concat([Buffer.from([0]), Buffer.alloc(width * 3, Buffer.from(colour))]);
  };
  const pixels = deflateSync(Buffer.concat(Array.from({ length: height }, (_, y) => rowAt(y))));
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', header), chunk('IDAT', pixels), chunk('IEND', Buffer.alloc(0))]);
}

async function screenshots(page: Page, name: string): Promise<void> {
  for (const scheme of ['light', 'dark'] as const) {
    await page.emulateMedia({ colorScheme: scheme });
    for (const [size, viewport] of [['desktop', DESKTOP], ['phone', PHONE]] as const) {
      await page.setViewportSize(viewport);
      await page.screenshot({ path: join(SCREENSHOTS, `${name}-${size}-${scheme}.png`) });
    }
  }
  await page.emulateMedia({ colorScheme: 'light' });
  await page.setViewportSize(DESKTOP);
}

describe('the web app', { timeout: 90_000 }, () => {
  it('signs two people up, refusing bad input with the server message next to the control', async () => {
    alicePage = await newPage();
    aliceContext = alicePage.context();
    bobPage = await newPage();

    // A weak password: the policy is explained while typing, and the server's refusal shows at the field.
    await alicePage.goto(site);
    await alicePage.getByRole('link', { name: 'Create an account' }).click();
    await alicePage.getByLabel('Username').fill(alice.username);
    await alicePage.getByLabel('E-mail').fill(alice.email);
    await alicePage.getByLabel('Password', { exact: true }).fill('short');
    await expect.poll(() => alicePage.getByRole('list', { name: 'Password rules' }).innerText()).toContain('At least 8 characters');
    await screenshots(alicePage, 'sign-up');
    await alicePage.getByRole('button', { name: 'Create account' }).click();
    const passwordError = alicePage.locator('#signup-password-error');
    await expect.poll(() => passwordError.innerText()).toMatch(/Password must be at least 8 characters/);
    expect(await alicePage.getByLabel('Password', { exact: true }).getAttribute('aria-describedby')).toBe('signup-password-error');
    await alicePage.getByLabel('Password', { exact: true }).fill(alice.password);
    await alicePage.getByRole('button', { name: 'Create account' }).click();
    await alicePage.getByRole('heading', { name: `Welcome, ${alice.username}` }).waitFor();

    // A taken username: the server's message next to the username field.
    await bobPage.goto(`${site}/signup`);
    await bobPage.getByLabel('Username').fill(alice.username);
    await bobPage.getByLabel('E-mail').fill(bob.email);
    await bobPage.getByLabel('Password', { exact: true }).fill(bob.password);
    await bobPage.getByRole('button', { name: 'Create account' }).click();
    await expect.poll(() => bobPage.locator('#signup-username-error').innerText()).toMatch(/Username already taken/);
    await bobPage.getByLabel('Username').fill(bob.username);
    await bobPage.getByRole('button', { name: 'Create account' }).click();
    await bobPage.getByRole('heading', { name: `Welcome, ${bob.username}` }).waitFor();
  });

  it('creates a room, invites, and carries live messages, typing, receipts, edits, reactions and deletes', async () => {
    await alicePage.getByRole('button', { name: 'New room' }).click();
    const dialog = alicePage.getByRole('dialog', { name: 'New room' });
    await dialog.getByLabel('Room name').fill('family');
    await dialog.getByLabel(/Private/).check();
    await dialog.getByRole('button', { name: 'Create room' }).click();
    await alicePage.getByRole('heading', { name: 'family', level: 1 }).waitFor();

    await alicePage.getByRole('button', { name: 'Invite' }).click();
    const invite = alicePage.getByRole('dialog', { name: 'Invite to family' });
    await invite.getByLabel('Find people').fill(bob.username);
    await invite.getByRole('button', { name: `Invite ${bob.username}` }).click();
    await invite.getByRole('status').filter({ hasText: `Invited ${bob.username}` }).waitFor();
    await invite.getByRole('button', { name: 'Close' }).click();

    // Bob's list gets the room live; he opens it.
    await bobPage.getByRole('link', { name: /^family/ }).click();
    await bobPage.getByRole('heading', { name: 'family', level: 1 }).waitFor();

    // Typing shows on the other side, then the message arrives live.
    await composer(alicePage).pressSequentially('Hello Bob');
    await bobPage.getByText(`${alice.username} is typing…`).waitFor();
    await composer(alicePage).press('Enter');
    await message(bobPage, 'Hello Bob').waitFor();
    expect(await composer(alicePage).inputValue()).toBe('');

    // Shift+Enter is a new line inside one message.
    await composer(bobPage).fill('Hi Alice');
    await composer(bobPage).press('Shift+Enter');
    await composer(bobPage).pressSequentially('two lines');
    await composer(bobPage).press('Enter');
    const reply = message(alicePage, 'two lines');
    await reply.waitFor();
    expect(await reply.locator('.content').innerText()).toBe('Hi Alice\ntwo lines');

    // Bob has the room open: Alice sees her message seen by him.
    await message(alicePage, 'Hello Bob').getByText(`Seen by ${bob.username}`).waitFor();

    // Edit.
    const hello = message(alicePage, 'Hello Bob');
    await hello.hover();
    await hello.getByRole('button', { name: 'Edit message' }).click();
    const editor = log(alicePage).getByRole('textbox', { name: 'Edit message' });
    await editor.fill('Hello Bob, welcome!');
    await editor.press('Enter');
    await message(bobPage, 'Hello Bob, welcome!').getByText('(edited)').waitFor();

    // React.
    const onBob = message(bobPage, 'Hello Bob, welcome!');
    await onBob.hover();
    await onBob.getByRole('button', { name: 'React with 👍' }).click();
    await message(alicePage, 'Hello Bob, welcome!').getByRole('button', { name: '👍 1' }).waitFor();

    // Delete.
    await composer(alicePage).fill('oops, wrong room');
    await composer(alicePage).press('Enter');
    await message(bobPage, 'oops, wrong room').waitFor();
    alicePage.once('dialog', (confirm) => void confirm.accept());
    const oops = message(alicePage, 'oops, wrong room');
    await oops.hover();
    await oops.getByRole('button', { name: 'Delete message' }).click();
    await log(bobPage).getByText('This message was deleted').waitFor();
    expect(await message(bobPage, 'oops, wrong room').count()).toBe(0);

    // Links: http(s) become links that open apart from the app; nothing else does.
    await composer(alicePage).fill('see https://example.com/plan?x=1, not javascript:alert(1)');
    await composer(alicePage).press('Enter');
    const withLink = message(bobPage, 'see https://example.com/plan');
    await withLink.waitFor();
    const link = withLink.getByRole('link', { name: 'https://example.com/plan?x=1' });
    expect(await link.getAttribute('href')).toBe('https://example.com/plan?x=1');
    expect(await link.getAttribute('rel')).toContain('noopener');
    expect(await withLink.getByRole('link').count()).toBe(1);

    // A message over the limit: the server's reason next to the composer, the text kept.
    const tooLong = 'x'.repeat(10_001);
    await composer(alicePage).fill(tooLong);
    await composer(alicePage).press('Enter');
    await expect.poll(() => alicePage.locator('#composer-error').innerText()).toMatch(/at most 10000 characters/);
    expect(await composer(alicePage).inputValue()).toBe(tooLong);
    await composer(alicePage).fill('');

    await screenshots(alicePage, 'room');
  });

  it('starts a direct message from a user search, and shows an image attachment on the other side', async () => {
    await bobPage.getByRole('button', { name: 'New direct message' }).click();
    const dialog = bobPage.getByRole('dialog', { name: 'New direct message' });
    await dialog.getByLabel('Find people').fill(alice.username);
    await dialog.getByRole('button', { name: `Message ${alice.username}` }).click();
    await bobPage.getByRole('heading', { name: alice.username, level: 1 }).waitFor();

    // Alice is in another room: the unread count shows in her tab title and beside the room.
    await composer(bobPage).fill('A private word');
    await composer(bobPage).press('Enter');
    await expect.poll(() => alicePage.title()).toBe('(1) chatd');
    await alicePage.getByRole('link', { name: new RegExp(`^${bob.username}, 1 unread`) }).click();
    await message(alicePage, 'A private word').waitFor();
    await expect.poll(() => alicePage.title()).toBe('chatd');

    await bobPage.getByLabel('Attach file').setInputFiles({ name: 'garden.png', mimeType: 'image/png', buffer: png(240, 160) });
    const image = log(alicePage).getByRole('img', { name: 'garden.png' });
    await image.waitFor();
    await expect.poll(() => image.evaluate((img) => (img as unknown as { complete: boolean; naturalWidth: number }).naturalWidth)).toBe(240);
    await screenshots(alicePage, 'direct-message');

    // A file over the limit: the server's message next to the attach control; nothing is sent.
    await bobPage.getByLabel('Attach file').setInputFiles({ name: 'big.bin', mimeType: 'application/octet-stream', buffer: Buffer.alloc(MAX_UPLOAD_BYTES + 50_000, 1) });
    await expect.poll(() => bobPage.locator('#upload-error').innerText()).toMatch(/large|exceeds|limit|bytes/i);
    expect(await message(alicePage, 'big.bin').count()).toBe(0);
  });

  it('loses and duplicates nothing across a network drop', async () => {
    await alicePage.getByRole('link', { name: /^family/ }).click();
    await bobPage.getByRole('link', { name: /^family/ }).click();
    await aliceContext.setOffline(true);
    await alicePage.getByRole('status').filter({ hasText: /Offline|Connecting/ }).waitFor();

    await composer(alicePage).fill('written while offline');
    await composer(alicePage).press('Enter');
    await message(alicePage, 'written while offline').getByText('Sending…').waitFor();
    await composer(bobPage).fill('sent while Alice was away');
    await composer(bobPage).press('Enter');
    await message(bobPage, 'sent while Alice was away').waitFor();

    await aliceContext.setOffline(false);
    await message(alicePage, 'sent while Alice was away').waitFor();
    await message(bobPage, 'written while offline').waitFor();
    await expect.poll(() => message(alicePage, 'written while offline').getByText('Sending…').count()).toBe(0);
    for (const page of [alicePage, bobPage]) {
      for (const text of ['written while offline', 'sent while Alice was away', 'Hello Bob, welcome!']) expect(await message(page, text).count(), text).toBe(1);
    }
  });

  it('joins a public room from the directory, pages back through history, shows status, and leaves', async () => {
    await bobPage.getByRole('button', { name: 'New room' }).click();
    const create = bobPage.getByRole('dialog', { name: 'New room' });
    await create.getByLabel('Room name').fill('garden');
    await create.getByRole('button', { name: 'Create room' }).click();
    await bobPage.getByRole('heading', { name: 'garden', level: 1 }).waitFor();
    // More history than one page, sent through the REST API by Bob's session.
    const roomId = /\/rooms\/([0-9a-f]{24})/.exec(bobPage.url())![1]!;
    await bobPage.evaluate(`(async () => {
      const csrf = decodeURIComponent(/chatd_csrf=([^;]+)/.exec(document.cookie)[1]);
      const refreshed = await fetch('/api/auth/refresh', { method: 'POST', headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrf }, body: '{}' });
      const token = (await refreshed.json()).tokens.accessToken;
      for (let i = 1; i <= 60; i++) {
        const sent = await fetch('/api/messages', { method: 'POST', headers: { 'Content-Type': 'application/json', Authorization: 'Bearer ' + token }, body: JSON.stringify({ roomId: '${roomId}', content: 'seed ' + i + '.' }) });
        if (sent.status !== 201) throw new Error('seeding failed: ' + sent.status);
      }
    })()`);

    await alicePage.getByRole('button', { name: 'Browse rooms' }).click();
    await alicePage.getByRole('dialog', { name: 'Public rooms' }).getByRole('button', { name: 'Join garden' }).click();
    await alicePage.getByRole('heading', { name: 'garden', level: 1 }).waitFor();
    await message(alicePage, 'seed 60.').waitFor();
    expect(await message(alicePage, 'seed 1.').count()).toBe(0);
    // Scrolling to the top loads the page before.
    await expect.poll(async () => {
      await log(alicePage).evaluate((element) => element.parentElement!.scrollTo(0, 0));
      return message(alicePage, 'seed 1.').count();
    }).toBe(1);
    expect(await log(alicePage).getByRole('listitem').filter({ hasText: /^seed \d+\.|seed/ }).count()).toBeGreaterThanOrEqual(60);

    // A custom status shows to the other person.
    await alicePage.getByRole('button', { name: 'Set status' }).click();
    const status = alicePage.getByRole('dialog', { name: 'Your status' });
    await status.getByLabel('Presence').selectOption('away');
    await status.getByLabel('Custom status').fill('In the garden');
    await status.getByRole('button', { name: 'Save status' }).click();
    await bobPage.getByRole('link', { name: new RegExp(`^${alice.username}`) }).click();
    await bobPage.getByText('away — In the garden').waitFor();

    // Leaving takes the room off the list.
    alicePage.once('dialog', (confirm) => void confirm.accept());
    await alicePage.getByRole('link', { name: /^garden/ }).click();
    await alicePage.getByRole('button', { name: 'Leave' }).click();
    await alicePage.getByRole('heading', { name: `Welcome, ${alice.username}` }).waitFor();
    expect(await alicePage.getByRole('link', { name: /^garden/ }).count()).toBe(0);
  });

  it('gives every control an accessible name', async () => {
    await alicePage.getByRole('link', { name: /^family/ }).click();
    // A control's name as assistive technology computes it, in the simple forms this app uses.
    const unnamed: string[] = await alicePage.evaluate(`(() => {
      const nameOf = (element) => {
        const labelledBy = element.getAttribute('aria-labelledby');
        const fromLabels = [...(element.labels ?? [])].map((label) => label.textContent ?? '').join(' ');
        return (element.getAttribute('aria-label') ?? (labelledBy ? document.getElementById(labelledBy)?.textContent : null) ?? (fromLabels.trim() || element.textContent?.trim() || element.getAttribute('title') || '')).trim();
      };
      return [...document.querySelectorAll('button, a[href], input, textarea, select')].filter((element) => !nameOf(element)).map((element) => element.outerHTML.slice(0, 120));
    })()`);
    expect(unnamed).toEqual([]);
  });

  it('keeps two tabs of one user signed in when they refresh their session at once', async () => {
    await bobPage.getByRole('link', { name: /^family/ }).click();
    const secondTab = await newPage(aliceContext);
    await secondTab.goto(`${site}/`);
    await secondTab.getByRole('heading', { name: `Welcome, ${alice.username}` }).waitFor();
    // Both tabs load at once, each exchanging the same refresh cookie.
    await Promise.all([alicePage.reload(), secondTab.reload()]);
    for (const page of [alicePage, secondTab]) await page.getByRole('link', { name: /^family/ }).waitFor();
    await Promise.all([alicePage.reload(), secondTab.reload()]);
    await secondTab.getByRole('link', { name: /^family/ }).click();
    await composer(secondTab).fill('still signed in');
    await composer(secondTab).press('Enter');
    await message(bobPage, 'still signed in').waitFor();
    await alicePage.getByRole('link', { name: /^family/ }).click();
    await message(alicePage, 'still signed in').waitFor();
    await secondTab.close();
  });

  it('resets a forgotten password through the mailed link, then signs in with the new one', async () => {
    const page = await newPage();
    await page.goto(site);
    await page.getByRole('link', { name: 'Forgot password?' }).click();
    await page.getByLabel('E-mail').fill(bob.email);
    await page.getByRole('button', { name: 'Send reset link' }).click();
    await page.getByRole('status').filter({ hasText: /reset link/ }).waitFor();
    const mail = await smtp.next((m) => m.to.includes(bob.email));
    const link = /(http:\/\/localhost:\d+\/reset-password\?token=[A-Za-z0-9_-]+)/.exec(mail.text)?.[1];
    expect(link).toBeDefined();

    await page.goto(link!);
    await page.getByLabel('New password', { exact: true }).fill('weak');
    await page.getByLabel('Confirm new password').fill('weak');
    await page.getByRole('button', { name: 'Set new password' }).click();
    await expect.poll(() => page.locator('#reset-password-error').innerText()).toMatch(/Password must be at least 8 characters/);
    const fresh = 'Brand!New9pass';
    await page.getByLabel('New password', { exact: true }).fill(fresh);
    await page.getByLabel('Confirm new password').fill(fresh);
    await page.getByRole('button', { name: 'Set new password' }).click();
    await page.getByRole('status').filter({ hasText: /Password reset/ }).waitFor();
    await page.getByRole('link', { name: 'Sign in' }).click();
    await page.getByLabel('E-mail').fill(bob.email);
    await page.getByLabel('Password').fill(fresh);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('link', { name: /^family/ }).waitFor();
    await screenshots(page, 'rooms');
    await page.context().close();
    expect(pageErrors).toEqual([]);
  });
});
