// The ops page in headless Chromium (Debian's chromium driven by playwright-core) against two
// nodes of two workers each on a real Redis: it shows no data without the key, then both nodes
// and four workers, connections rising as the test opens 200, the broker red while the test has
// killed Redis and green once it is back, and one user's connections found by name. Skips with
// the reason where chromium or redis-server is missing, except under CI=true, where that fails.
// RINGCAST_OPS_SCREENSHOTS=docs writes docs/ops.png and docs/ops-broker-down.png.
import { existsSync } from 'node:fs';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { startCli, type Running } from '../helpers/cli.js';
import { Client, openClients } from '../helpers/client.js';
import { redisFixture, redisMissing } from '../helpers/redis.js';
import { opsPort } from '../ops/helpers.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const missing = existsSync(CHROMIUM) ? undefined : `${CHROMIUM} not found (apt-get install chromium)`;
if (missing !== undefined && process.env.CI === 'true') throw new Error(`the browser test needs Chromium under CI: ${missing}`);
if (missing !== undefined) console.log(`skipping the ops browser test: ${missing}`);
const SHOTS = process.env.RINGCAST_OPS_SCREENSHOTS;

const KEY = 'ops-browser-key';
const SECRET = 'ops-browser-secret-0123456789';
const token = (sub: string) =>
  new SignJWT({ sub }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('1h').sign(new TextEncoder().encode(SECRET));

describe.skipIf(missing !== undefined || (redisMissing !== undefined && process.env.CI !== 'true'))(
  'the ops page in Chromium, two nodes of two workers on Redis',
  () => {
    const r = redisFixture();
    let browser: Browser;
    const nodes: { cli: Running; ws: string; ops: number }[] = [];
    const clients: Client[] = [];
    const stops: (() => void)[] = [];

    beforeAll(async () => {
      const { chromium } = await import('playwright-core');
      browser = await chromium.launch({
        executablePath: CHROMIUM,
        args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'],
      });
    });
    afterAll(async () => {
      for (const stop of stops) stop();
      for (const c of clients) c.close();
      await browser?.close();
    });

    // started by the test itself: test/helpers/cli.ts kills every CLI a test started once it ends
    async function startNodes(): Promise<void> {
      for (let i = 0; i < 2; i++) {
        const cli = startCli([
          '--port',
          '0',
          '--workers',
          '2',
          '--broker',
          r.redis.url,
          '--broker-timeout',
          '500',
          '--broker-probe',
          '500',
          '--ops',
          '--ops-port',
          '0',
          '--api-key',
          KEY,
          '--jwt-secret',
          SECRET,
        ]);
        const port = (await cli.listening).port as number;
        nodes.push({ cli, ws: `ws://127.0.0.1:${port}/ws`, ops: await opsPort(cli) });
      }
    }

    async function open(): Promise<Page> {
      const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      page.on('pageerror', (err) => console.error(`ops page: ${err.message}`));
      await page.goto(`http://127.0.0.1:${nodes[0]!.ops}/ops`);
      return page;
    }
    const count = (page: Page, sel: string) => page.$$eval(sel, (els) => els.length);

    it('shows only the login form without the key; then both nodes and four workers, connections rising, a user found, the broker red and green', async () => {
      await startNodes();
      let page = await open();
      await page.waitForSelector('#login-form');
      expect(await page.isVisible('#login')).toBe(true);
      expect(await count(page, '[data-node]')).toBe(0);
      await page.fill('#key', 'not-the-key');
      await page.click('#login-button');
      await page.waitForFunction(() => document.getElementById('login-error')!.textContent !== '');
      expect(await page.isVisible('#login')).toBe(true);
      expect(await count(page, '[data-node]')).toBe(0);
      // the key is kept in the tab's session, never put in the URL
      expect(page.url()).not.toContain('not-the-key');
      await page.close();

      page = await open();
      await page.fill('#key', KEY);
      await page.click('#login-button');
      await page.waitForSelector('#stream[data-state="live"]');
      expect(page.url()).not.toContain(KEY);
      await page.waitForFunction(() => document.querySelectorAll('tr[data-node][data-state="up"]').length === 2, undefined, {
        timeout: 30_000,
      });
      await page.waitForFunction(() => document.querySelectorAll('tr[data-worker][data-state="up"]').length === 4, undefined, {
        timeout: 30_000,
      });
      await page.waitForSelector('#broker[data-state="up"]');

      const carol = await Client.open(`${nodes[1]!.ws}?topics=lobby,help&token=${await token('carol')}`);
      clients.push(carol);
      for (let i = 0; i < 2; i++) {
        const batch = await openClients(`${nodes[i]!.ws}?topics=lobby,room-${i}&token=${await token(`user-${i}`)}`, 100);
        clients.push(...batch);
      }
      // traffic for the charts: a publish a tenth of a second to each node, and now and then a request the server refuses
      let published = 0;
      const traffic = setInterval(() => {
        const i = published++ % 2;
        const http = nodes[i]!.ws.replace('ws://', 'http://').replace('/ws', '/publish');
        const body = JSON.stringify({ topic: published % 3 === 0 ? `room-${i}` : 'lobby', data: { n: published } });
        void fetch(http, { method: 'POST', headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${KEY}` }, body }).catch(
          () => undefined,
        );
        if (published % 5 === 0) clients[1]!.send('not json'); // a client of the page's node: err bad_json
      }, 100);
      stops.push(() => clearInterval(traffic));
      await page.waitForFunction(() => Number(document.getElementById('total-connections')!.textContent) >= 201, undefined, {
        timeout: 30_000,
      });
      // the page's node holds half of them, spread over its workers
      await page.waitForSelector('#topics tr[data-topic="lobby"]', { timeout: 30_000 });
      await page.waitForFunction(() => document.querySelector('#chart-publishes b')!.textContent !== '0/s', undefined, { timeout: 30_000 });
      if (SHOTS) {
        // a screenshot worth reading: some seconds of traffic on the charts (not a condition of the test)
        await page.waitForFunction(
          () => document.querySelectorAll('#chart-deliveries polyline')[0]!.getAttribute('points')!.split(' ').length >= 20,
          undefined,
          {
            timeout: 60_000,
          },
        );
        await page.screenshot({ path: `${SHOTS}/ops.png` });
      }
      await page.fill('#topic-search', 'room-');
      await page.waitForFunction(() => {
        const rows = [...document.querySelectorAll('#topics tr[data-topic]')].map((r) => r.getAttribute('data-topic'));
        return rows.length === 1 && rows[0] === 'room-0';
      });
      await page.fill('#topic-search', '');
      await page.waitForSelector('#topics tr[data-topic="lobby"]');

      // carol is on the other node: the lookup asks it
      await page.fill('#user-name', 'carol');
      await page.click('#user-find');
      await page.waitForSelector('#user-table');
      expect(await count(page, '#user-table tbody tr')).toBe(1);
      const row = await page.textContent('#user-table tbody tr');
      expect(row).toContain('lobby, help');
      expect(row).toContain(`:${new URL(nodes[1]!.ws).port}`);
      await page.fill('#user-name', 'user-0');
      await page.click('#user-find');
      await page.waitForFunction(() => document.querySelectorAll('#user-table tbody tr').length === 100);

      // back to one user for the next screenshot
      await page.fill('#user-name', 'carol');
      await page.click('#user-find');
      await page.waitForFunction(() => document.querySelectorAll('#user-table tbody tr').length === 1);

      await r.redis.kill();
      await page.waitForSelector('#broker[data-state="down"]', { timeout: 30_000 });
      await page.waitForSelector('tr[data-node][data-state="degraded"]', { timeout: 30_000 });
      if (SHOTS) await page.screenshot({ path: `${SHOTS}/ops-broker-down.png` });

      await r.redis.restart();
      await page.waitForSelector('#broker[data-state="up"]', { timeout: 60_000 });
      await page.waitForFunction(() => document.querySelectorAll('tr[data-node][data-state="up"]').length === 2, undefined, {
        timeout: 60_000,
      });
      await page.close();
    });
  },
);
