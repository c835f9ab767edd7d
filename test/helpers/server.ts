// Starts a real ringcast server on 127.0.0.1:0 for a test; one per transport under test.
import { pino } from 'pino';
import { configWith, type Config } from '../../server/config.js';
import { RingcastServer } from '../../server/server.js';
import { probeUring } from '../../server/transport/select.js';
import type { TransportName } from '../../server/transport/types.js';

/** Every transport the contract suite runs on: ws always, uring where the engine runs. */
export const transports: TransportName[] = probeUring().ok ? ['ws', 'uring'] : ['ws'];

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
