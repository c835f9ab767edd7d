// Starts a real ringcast server on 127.0.0.1:0 for a test; one per transport under test.
import { pino } from 'pino';
import { afterEach } from 'vitest';
import type { ClientOptions } from 'ws';
import { Client } from './client.js';
import { configWith, type Config } from '../../server/config.js';
import { RingcastServer } from '../../server/server.js';
import { probeUring } from '../../server/transport/select.js';
import type { TransportName } from '../../server/transport/types.js';

/**
 * Every transport the contract suite runs on: ws always, uring where the engine runs.
 * RINGCAST_TEST_TRANSPORTS (a comma list) narrows it: the ASan run (native/tools/test-asan.sh)
 * sets it to uring, the transport whose engine the sanitizer instruments.
 */
export const transports: TransportName[] = (() => {
  const all: TransportName[] = probeUring().ok ? ['ws', 'uring'] : ['ws'];
  const wanted = process.env.RINGCAST_TEST_TRANSPORTS?.split(',').map((t) => t.trim());
  if (wanted === undefined) return all;
  const unknown = wanted.filter((t) => t !== 'ws' && t !== 'uring');
  if (unknown.length > 0) throw new Error(`RINGCAST_TEST_TRANSPORTS: unknown transport ${unknown.join(', ')} (ws, uring)`);
  const out = all.filter((t) => wanted.includes(t));
  if (out.length < wanted.length)
    throw new Error(`RINGCAST_TEST_TRANSPORTS asks for ${wanted.join(', ')}; this machine runs ${all.join(', ')}`);
  return out;
})();

export interface TestServer {
  server: RingcastServer;
  port: number;
  url: string;
  http: string;
  close(): Promise<void>;
}

export async function startServer(transport: TransportName, overrides: Partial<Config> = {}): Promise<TestServer> {
  const config = configWith({ host: '127.0.0.1', port: 0, transport, logLevel: 'silent', drainTimeout: 2000, ...overrides });
  const server = new RingcastServer(config, pino({ level: 'silent' }));
  const { port } = await server.listen();
  return {
    server,
    port,
    url: `ws://127.0.0.1:${port}${config.path}`,
    http: `http://127.0.0.1:${port}`,
    close: () => server.close(),
  };
}

/**
 * A server per test plus the clients it opened, all closed after each test. Call inside a
 * describe block: `const f = serverFixture('ws'); ... await f.start({ maxPayload: 1024 })`.
 */
export function serverFixture(transport: TransportName) {
  let current: TestServer | undefined;
  const clients: Client[] = [];
  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    await current?.close();
    current = undefined;
  });
  return {
    get srv(): TestServer {
      if (current === undefined) throw new Error('start() the server first');
      return current;
    },
    async start(overrides: Partial<Config> = {}): Promise<TestServer> {
      return (current = await startServer(transport, overrides));
    },
    /** Opens a client on the server's WebSocket URL plus `query`; closed after the test. */
    async open(query = '', options: ClientOptions = {}): Promise<Client> {
      const c = await Client.open(this.srv.url + query, options);
      clients.push(c);
      return c;
    },
  };
}
