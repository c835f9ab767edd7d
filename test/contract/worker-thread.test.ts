// The uring transport inside a worker thread that ends without close(): Node-API finalizes the
// addon's server at the environment's teardown, so the listener, the ring and every
// connection's fd go with the thread instead of staying open in the process (--workers runs one
// ring per thread; its design audit expected a leak here, and this shows there is none).
import { readdirSync } from 'node:fs';
import { connect } from 'node:net';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { Client, sleep } from '../helpers/client.js';
import { transports } from '../helpers/server.js';

const openFds = () => readdirSync('/proc/self/fd').length;

function connects(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

describe.skipIf(!transports.includes('uring'))('the uring transport in a worker thread', () => {
  it('closes its listener, ring and connections when the thread is terminated without close()', async () => {
    const before = openFds();
    const worker = new Worker(new URL('../fixtures/ring-worker.mjs', import.meta.url));
    const { port } = await new Promise<{ port: number }>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    const client = await Client.open(`ws://127.0.0.1:${port}/ws`);
    expect(await client.request({ op: 'ping', id: 'p' })).toMatchObject({ op: 'ack' });
    expect(await connects(port)).toBe(true);
    await worker.terminate();
    // the client sees its connection end, and nothing listens on the port any more
    const closed = await Promise.race([client.closed, sleep(3000).then(() => undefined)]);
    expect(closed, 'the connection ended with the thread').toBeDefined();
    expect(await connects(port)).toBe(false);
    client.close();
    await sleep(100);
    expect(openFds()).toBeLessThanOrEqual(before + 2); // the ring, eventfd and sockets are gone
  }, 20_000);
});
