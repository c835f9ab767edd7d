// permessage-deflate interop with Chromium (Debian's chromium driven by playwright-core): the page
// negotiates the extension with ringcast's answer (server_no_context_takeover and
// client_no_context_takeover), sends a compressed 16 KB message and reads the compressed fanout
// of it. A raw subscriber that negotiated sees the RSV1 frame on the wire. Firefox is not
// installed here (no firefox-esr package on this machine). Skips like demo.test.ts.
import { existsSync } from 'node:fs';
import { constants, inflateRawSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { RawClient } from '../helpers/raw.js';
import { startServer, transports, type TestServer } from '../helpers/server.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const missing = existsSync(CHROMIUM) ? undefined : `${CHROMIUM} not found (apt-get install chromium)`;
if (missing !== undefined && process.env.CI === 'true') throw new Error(`the browser test needs Chromium under CI: ${missing}`);
if (missing !== undefined) console.log(`skipping the deflate browser test: ${missing}`);

describe.skipIf(missing !== undefined).each(transports)('permessage-deflate with Chromium on the %s transport', (transport) => {
  let srv: TestServer;
  let browser: Browser;

  beforeAll(async () => {
    const { chromium } = await import('playwright-core');
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    });
    srv = await startServer(transport);
  });
  afterAll(async () => {
    await browser?.close();
    await srv?.close();
  });

  it('negotiates permessage-deflate and round-trips a 16 KB message', async () => {
    const wire = await RawClient.handshake(srv.port, '/ws?topics=room', 'Sec-WebSocket-Extensions: permessage-deflate\r\n');
    const page = await browser.newPage();
    try {
      const result = await page.evaluate(async (url) => {
        const text = Array.from({ length: 600 }, (_, i) => `line ${i}: see you at the standup`)
          .join('\n')
          .slice(0, 16_000);
        const ws = new WebSocket(url);
        await new Promise((resolve, reject) => {
          ws.onopen = resolve;
          ws.onerror = reject;
        });
        const got = new Promise<{ op: string; data: { text: string } }>((resolve) => {
          ws.onmessage = (e) => {
            const m = JSON.parse(e.data as string) as { op: string; data: { text: string } };
            if (m.op === 'msg') resolve(m);
          };
        });
        ws.send(JSON.stringify({ op: 'pub', topic: 'room', data: { text } }));
        const m = await got;
        ws.close();
        return { extensions: ws.extensions, same: m.data.text === text, length: text.length };
      }, `${srv.url}?topics=room`);
      expect(result.extensions).toContain('permessage-deflate');
      expect(result.extensions).toContain('server_no_context_takeover');
      expect(result.extensions).toContain('client_no_context_takeover');
      expect(result).toMatchObject({ same: true, length: 16_000 });
      // what the page read was the compressed frame every negotiated subscriber gets
      let f = await wire.nextFrame();
      while (f.opcode !== 0x1) f = await wire.nextFrame();
      expect(f.rsv1).toBe(true);
      expect(f.payload.length).toBeLessThan(4000);
      const inflated = inflateRawSync(Buffer.concat([f.payload, Buffer.from([0, 0, 0xff, 0xff])]), { finishFlush: constants.Z_SYNC_FLUSH });
      expect(JSON.parse(inflated.toString())).toMatchObject({ op: 'msg', topic: 'room' });
    } finally {
      await page.close();
      wire.destroy();
    }
  });
});
