// --workers 2: the frames the main thread encodes reach each worker as memory of the worker's own,
// which its heap counts, so what the workers drop is freed as they go. Frames in shared memory
// were freed only when every thread had collected its wrapper, and V8 does not count shared memory
// towards collecting: a worker whose JavaScript makes little garbage (the uring transport's) held
// hundreds of MiB of dropped frames. Measured as a user sees it, with no collection forced: the C
// allocator's bytes in use (ringcast_allocator_bytes, mallinfo2) after far more frame bytes than
// the bound have passed through both workers.
import { describe, expect, it } from 'vitest';
import { startCli } from '../helpers/cli.js';
import { Client } from '../helpers/client.js';
import { transports } from '../helpers/server.js';

const MiB = 1024 * 1024;
const MESSAGE = 60 * 1024;
/** 2,000 x 60 KiB: 117 MiB of frames through each worker. */
const MESSAGES = 2000;
/**
 * What the allocator may hold beyond the start: V8 collects once an isolate's external memory has
 * grown by 64 MiB, so the main thread and each worker may each hold some dropped buffers.
 */
const BOUND = 96 * MiB;

async function allocatorBytes(http: string): Promise<number> {
  const body = await (await fetch(`${http}/metrics`)).text();
  let sum = 0;
  for (const line of body.split('\n'))
    if (/^ringcast_allocator_bytes\{state="(in_use|mapped)"\}/.test(line)) sum += Number(line.split(' ').pop());
  return sum;
}

async function post(http: string, topic: string, data: string): Promise<void> {
  const res = await fetch(`${http}/publish`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ topic, data }),
  });
  expect(res.status).toBe(200);
  await res.arrayBuffer();
}

describe.each(transports)('frame memory with --workers 2 over %s', (transport) => {
  it('frames the workers dropped are freed as they go, not when a collection happens to run', async () => {
    const r = startCli(['--port', '0', '--workers', '2', '--transport', transport, '--broker', 'memory', '--history', '1']);
    const { port } = (await r.listening) as { port: number };
    const http = `http://127.0.0.1:${port}`;
    // one subscriber per worker (the acceptor balances connections)
    const subscribers = [await Client.open(`ws://127.0.0.1:${port}/ws`), await Client.open(`ws://127.0.0.1:${port}/ws`)];
    for (const c of subscribers) expect(await c.request({ op: 'sub', topic: 'big', id: 1 })).toMatchObject({ op: 'ack', id: 1 });
    const data = 'y'.repeat(MESSAGE);
    for (let i = 0; i < 20; i++) await post(http, 'big', data);
    for (const c of subscribers) for (let i = 0; i < 20; i++) await c.next(10_000);
    const before = await allocatorBytes(http);
    expect(before).toBeGreaterThan(0);
    let peak = 0;
    for (let i = 0; i < MESSAGES; i++) {
      await post(http, 'big', data);
      for (const c of subscribers) expect(await c.next(10_000)).toMatchObject({ op: 'msg', topic: 'big' });
      if (i % 100 === 99) peak = Math.max(peak, (await allocatorBytes(http)) - before);
    }
    expect(peak, `the allocator's bytes in use grew by ${(peak / MiB).toFixed(0)} MiB`).toBeLessThan(BOUND);
    for (const c of subscribers) c.close();
  }, 180_000);
});
