// The --demo chat in headless Chromium when the room, not the link, is in trouble: opened while
// Redis is down it says the room is waiting for the server (beside a connected badge) and works
// once Redis is back; a room the token forbids says it was refused; "could not be recovered"
// appears for a real gap only. Skips with the reason where chromium or redis-server is missing,
// except under CI=true, where that fails.
import { SignJWT } from 'jose';
import { existsSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { sleep } from '../helpers/client.js';
import { CutProxy } from '../helpers/proxy.js';
import { RedisServer, redisMissing } from '../helpers/redis.js';
import { startServer, transports, type TestServer } from '../helpers/server.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const missing = existsSync(CHROMIUM) ? redisMissing : `${CHROMIUM} not found (apt-get install chromium)`;
const built = existsSync(new URL('../../dist/server/client/index.js', import.meta.url));
const SECRET = 'a-test-secret-of-32-characters!!';
if (missing !== undefined && process.env.CI === 'true') throw new Error(`the browser test needs Chromium and Redis under CI: ${missing}`);
if (missing !== undefined) console.log(`skipping the demo room tests: ${missing}`);

describe.skipIf(missing !== undefined).each(transports)('the demo rooms in Chromium on the %s transport', (transport) => {
  let browser: Browser;
  let redis: RedisServer;
  const stops: (() => Promise<void>)[] = [];

  beforeAll(async () => {
    expect(built, 'build first: npx tsc -p tsconfig.json').toBe(true);
    const { chromium } = await import('playwright-core');
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    });
    redis = await RedisServer.start({ aof: true });
  });
  afterEach(async () => {
    for (const stop of stops.splice(0).reverse()) await stop();
  });
  afterAll(async () => {
    await browser?.close();
    await redis?.close();
  });

  async function server(overrides: Parameters<typeof startServer>[1]): Promise<TestServer> {
    const s = await startServer(transport, { demo: true, ...overrides });
    stops.push(() => s.close());
    return s;
  }
  async function open(url: string): Promise<Page> {
    const page = await browser.newPage({ viewport: { width: 900, height: 560 } });
    stops.push(() => page.close());
    page.on('pageerror', (err) => console.error(`page: ${err.message}`));
    await page.goto(url);
    await page.waitForSelector('#status[data-state="connected"]');
    return page;
  }
  async function say(page: Page, text: string) {
    await page.fill('#message', text);
    await page.click('#send');
  }
  async function eventually(what: string, check: () => Promise<boolean>, ms = 15_000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!(await check())) {
      if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
      await sleep(25);
    }
  }

  it('opened while Redis is down: the room waits for the server beside a connected badge, then works', async () => {
    const s = await server({ broker: redis.url, brokerPrefix: `d${process.pid}-${transport}`, brokerTimeout: 1000, brokerProbe: 300 });
    await redis.kill();
    await eventually('/healthz 503', async () => (await fetch(`${s.http}/healthz`)).status === 503);
    const page = await open(`${s.http}/demo?room=lobby&name=ann`);
    await page.waitForSelector('#room-state[data-state="retrying"]');
    expect(await page.textContent('#room-state')).toContain('waiting for the server: unavailable, retrying');
    expect(await page.getAttribute('#status', 'data-state')).toBe('connected');

    await redis.restart();
    await page.waitForSelector('#room-state[data-state="subscribed"]', { timeout: 15_000 });
    await say(page, 'made it');
    await page.waitForSelector('[data-seq="1"]', { timeout: 10_000 });
    expect(await page.textContent('[data-seq="1"]')).toContain('made it');
    expect(await page.textContent('#notice')).not.toContain('could not be recovered');
  }, 40_000);

  it('a room the token forbids says it was refused, and is not retried', async () => {
    const s = await server({ jwtSecret: SECRET });
    const token = await new SignJWT({ sub: 'ann', topics: { sub: ['chat.lobby'], pub: ['chat.lobby'] } })
      .setProtectedHeader({ alg: 'HS256' })
      .setExpirationTime('1h')
      .sign(new TextEncoder().encode(SECRET));
    const allowed = await open(`${s.http}/demo?room=lobby&name=ann&token=${token}`);
    await allowed.waitForSelector('#room-state[data-state="subscribed"]');
    const refused = await open(`${s.http}/demo?room=secret&name=ann&token=${token}`);
    await refused.waitForSelector('#room-state[data-state="failed"]');
    expect(await refused.textContent('#room-state')).toContain('this room refused you: forbidden');
    expect(await refused.getAttribute('#status', 'data-state')).toBe('connected');
    expect(await refused.isDisabled('#send')).toBe(true);
    await sleep(500); // several backoff periods of the demo's client
    expect(await refused.getAttribute('#room-state', 'data-state')).toBe('failed');
  });

  it('says "could not be recovered" for a real gap only: not after a clean recovery, yes past the history', async () => {
    const s = await server({ history: 3 });
    const proxy = await CutProxy.start(s.port);
    stops.push(() => proxy.close());
    const ann = await open(`http://127.0.0.1:${proxy.port}/demo?room=gap&name=ann`);
    await ann.waitForSelector('#room-state[data-state="subscribed"]');
    const bob = await open(`${s.http}/demo?room=gap&name=bob`);
    await bob.waitForSelector('#room-state[data-state="subscribed"]');

    const away = async (messages: string[]) => {
      proxy.refuse(true);
      proxy.cut();
      await ann.waitForSelector('#status:not([data-state="connected"])');
      const shown = (await bob.$$('[data-seq]')).length;
      for (const text of messages) await say(bob, text);
      await bob.waitForFunction((n) => document.querySelectorAll('[data-seq]').length === n, shown + messages.length);
      proxy.refuse(false);
      await ann.waitForSelector('#status[data-state="connected"]', { timeout: 10_000 });
    };
    await away(['one', 'two']); // within the 3 retained: a clean recovery
    await ann.waitForFunction(() => document.getElementById('notice')!.textContent === 'reconnected: 2 messages recovered');
    await away(['3', '4', '5', '6', '7']); // 5 missed, 3 retained: a real gap
    await ann.waitForFunction(() => /could not be recovered/.test(document.getElementById('notice')!.textContent ?? ''));
  }, 40_000);
});
