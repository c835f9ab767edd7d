// The --demo chat in headless Chromium (Debian's chromium driven by playwright-core): two pages in
// one room chat and see each other join and leave; one page's link is cut (through a proxy this
// test runs), messages are sent meanwhile, and the page shows what it recovered. Skips with the
// reason where chromium is missing, except under CI=true, where that fails.
// RINGCAST_DEMO_SCREENSHOT=docs/demo.png writes the screenshot of the docs.
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { CutProxy } from '../helpers/proxy.js';
import { startServer, transports, type TestServer } from '../helpers/server.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const missing = existsSync(CHROMIUM) ? undefined : `${CHROMIUM} not found (apt-get install chromium)`;
const built = existsSync(new URL('../../dist/server/client/index.js', import.meta.url));
if (missing !== undefined && process.env.CI === 'true') throw new Error(`the browser test needs Chromium under CI: ${missing}`);
if (missing !== undefined) console.log(`skipping the browser test: ${missing}`);

describe.skipIf(missing !== undefined).each(transports)('the demo in Chromium on the %s transport', (transport) => {
  let srv: TestServer;
  let proxy: CutProxy;
  let browser: Browser;

  beforeAll(async () => {
    expect(built, 'build first: npx tsc -p tsconfig.json').toBe(true);
    const { chromium } = await import('playwright-core');
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    });
    srv = await startServer(transport, { demo: true });
    proxy = await CutProxy.start(srv.port);
  });
  afterAll(async () => {
    await browser?.close();
    await proxy?.close();
    await srv?.close();
  });

  async function openPage(base: string, name: string): Promise<Page> {
    const page = await browser.newPage({ viewport: { width: 900, height: 560 } });
    page.on('pageerror', (err) => console.error(`page ${name}: ${err.message}`));
    await page.goto(`${base}/demo?room=lobby&name=${name}`);
    await page.waitForSelector('#status[data-state="connected"]');
    return page;
  }
  async function say(page: Page, text: string) {
    await page.fill('#message', text);
    await page.click('#send');
  }
  const seqs = (page: Page) => page.$$eval('[data-seq]', (els) => els.map((e) => Number((e as HTMLElement).dataset.seq)));
  const members = (page: Page) => page.$$eval('#members li', (els) => els.length);

  it('chats, shows joins and leaves, and recovers what a cut link missed', async () => {
    const alice = await openPage(`http://127.0.0.1:${proxy.port}`, 'alice'); // her link goes through the proxy
    await alice.waitForFunction(() => document.querySelectorAll('#members li').length === 1);
    const bob = await openPage(srv.http, 'bob');

    // each sees the other join
    await alice.waitForFunction(() => document.querySelectorAll('#members li').length === 2);
    await bob.waitForFunction(() => document.querySelectorAll('#members li').length === 2);
    expect(await alice.textContent('#messages')).toContain('joined');

    await say(alice, 'hi bob');
    await bob.waitForSelector('[data-seq="1"]');
    expect(await bob.textContent('[data-seq="1"]')).toContain('hi bob');
    await say(bob, 'hi alice');
    await alice.waitForSelector('[data-seq="2"]');

    // alice's link is cut and stays down while bob writes three messages
    proxy.refuse(true);
    proxy.cut();
    await alice.waitForSelector('#status:not([data-state="connected"])');
    for (const text of ['are you there?', 'the link was cut', 'this was sent while you were away']) await say(bob, text);
    await bob.waitForSelector('[data-seq="5"]');
    proxy.refuse(false);
    await alice.waitForSelector('#status[data-state="connected"]', { timeout: 10_000 });
    await alice.waitForFunction(() => document.getElementById('notice')!.textContent === 'reconnected: 3 messages recovered');
    await alice.waitForSelector('[data-seq="5"]');
    expect(await seqs(alice)).toEqual([1, 2, 3, 4, 5]);
    expect(await seqs(bob)).toEqual([1, 2, 3, 4, 5]);
    expect(await alice.textContent('[data-seq="5"]')).toContain('this was sent while you were away');
    await say(alice, 'back, got them all');
    await bob.waitForSelector('[data-seq="6"]');
    await alice.waitForSelector('[data-seq="6"]');
    await alice.waitForFunction(() => document.querySelectorAll('#members li').length === 2);
    expect(await alice.textContent('#members')).toContain('bob'); // names learned from messages
    expect(await alice.textContent('#members')).toContain('alice (you)');

    if (process.env.RINGCAST_DEMO_SCREENSHOT) await alice.screenshot({ path: process.env.RINGCAST_DEMO_SCREENSHOT });

    // bob leaves: alice sees it
    await bob.close();
    await alice.waitForFunction(() => document.querySelectorAll('#members li').length === 1);
    expect(await members(alice)).toBe(1);
    expect(await alice.textContent('#messages')).toContain('bob left');
    await alice.close();
  });
});
