// close() leaves nothing behind: a Node process that used the client exits by itself once it
// has closed it (no timer, no socket, no listener keeps the event loop alive). The child imports
// `ringcast/client` through the package's own exports map, i.e. the compiled ESM of
// dist/server/client/ (npx tsc first), on Node's `ws` (Node 20 has no global WebSocket).
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { startServer, transports, type TestServer } from '../helpers/server.js';

const root = new URL('../../', import.meta.url);

const child = `
import { RingcastClient } from 'ringcast/client';
const c = new RingcastClient(process.argv[1], { pingInterval: 50, minDelay: 10 });
const got = new Promise((resolve) => c.subscribe('exit', (data) => resolve(data)).subscribed.then(() => c.publish('exit', 'bye')));
console.log('received', JSON.stringify(await got));
await c.close();
console.log('closed');
`;

function run(url: string): Promise<{ code: number | null; out: string; ms: number }> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['--input-type=module', '-e', child, url], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => {
      p.kill('SIGKILL');
      reject(new Error(`the process did not exit within 10 s after close(); it printed: ${out}`));
    }, 10_000);
    p.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, out, ms: Date.now() - started });
    });
  });
}

describe.each(transports)('close() on the %s transport', (transport) => {
  let srv: TestServer;
  afterEach(async () => {
    await srv?.close();
  });

  it('lets the process exit by itself once the client is closed', async () => {
    expect(existsSync(new URL('dist/server/client/index.js', root)), 'build first: npx tsc -p tsconfig.json').toBe(true);
    srv = await startServer(transport);
    const r = await run(srv.url);
    expect(r.out).toBe('received "bye"\nclosed\n');
    expect(r.code).toBe(0);
  });
});
