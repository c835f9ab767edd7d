// --demo on every transport: the chat page and the compiled client module it imports (built by
// tsc into dist/server/client/), nothing else from disk, and nothing at all without the flag.
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../server/config.js';
import { startServer, transports, type TestServer } from '../helpers/server.js';

it('takes --demo alone, --demo=false and RINGCAST_DEMO, and is off by default', () => {
  const run = (argv: string[], env = {}) => (loadConfig(argv, env) as { config: { demo: boolean; port: number } }).config;
  expect(run([]).demo).toBe(false);
  expect(run(['--demo']).demo).toBe(true);
  expect(run(['--demo', '--port', '9']).demo).toBe(true);
  expect(run(['--demo=false']).demo).toBe(false);
  expect(run([], { RINGCAST_DEMO: 'true' }).demo).toBe(true);
  expect(() => loadConfig(['--demo=yes'], {})).toThrow(/--demo/);
});

describe.each(transports)('the demo routes on the %s transport', (transport) => {
  let srv: TestServer;
  afterEach(async () => {
    await srv?.close();
  });

  it('serves no demo unless --demo is set', async () => {
    srv = await startServer(transport);
    expect((await fetch(`${srv.http}/demo?room=a`)).status).toBe(404);
  });

  it('serves the chat page and the client module under --demo, and nothing else from disk', async () => {
    srv = await startServer(transport, { demo: true });
    const page = await fetch(`${srv.http}/demo?room=a`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    const html = await page.text();
    for (const hook of ['id="message"', 'id="send"', "from '/demo/client/index.js'"]) expect(html).toContain(hook);
    const mod = await fetch(`${srv.http}/demo/client/index.js`);
    expect(mod.status).toBe(200);
    expect(mod.headers.get('content-type')).toMatch(/^text\/javascript/);
    expect(await mod.text()).toContain('RingcastClient');
    for (const path of ['/demo/client/../../cli.js', '/demo/client/index.js.map', '/demo/client/nope.js', '/demo/x']) {
      expect((await fetch(`${srv.http}${path}`)).status, path).toBe(404);
    }
  });
});
