// --max-history-bytes and topic churn bound memory, not a counter: the built CLI in a child
// process under --expose-gc reports process.memoryUsage() after full collections (the test-only
// probe, test/helpers/memory.ts), on both transports.
import { describe, expect, it } from 'vitest';
import { Client } from '../helpers/client.js';
import { MiB, probe, startProbed } from '../helpers/memory.js';
import { transports } from '../helpers/server.js';

const CAP = 8 * MiB;
/** A published message's data: a JSON string of this many bytes. */
const MESSAGE = 512 * 1024;
/** What the process may hold beyond the cap: buffers of the transport and HTTP parser, a frame or two in flight. */
const SLACK = 3 * MiB;

async function post(http: string, topic: string, data: unknown, key?: string): Promise<void> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (key !== undefined) headers['idempotency-key'] = key;
  const res = await fetch(`${http}/publish`, { method: 'POST', headers, body: JSON.stringify({ topic, data }) });
  expect(res.status).toBe(200);
  await res.arrayBuffer();
}

async function metric(http: string, name: string): Promise<number> {
  const body = await (await fetch(`${http}/metrics`)).text();
  const line = body.split('\n').find((l) => l.startsWith(name + ' '));
  return Number(line?.split(' ').pop());
}

/**
 * Topics that come and go: each gets a subscriber that watches presence, a keyed publish from
 * that subscriber and one over HTTP, then the unsubscribe that drops it (--history-ttl 0).
 */
async function churn(port: number, http: string, from: number, count: number): Promise<void> {
  const c = await Client.open(`ws://127.0.0.1:${port}/ws`);
  const data = 'x'.repeat(1024);
  const BATCH = 50;
  for (let b = from; b < from + count; b += BATCH) {
    const last = Math.min(b + BATCH, from + count);
    for (let i = b; i < last; i++) {
      c.send({ op: 'sub', topic: `churn-${i}`, presence: true, id: i * 3 });
      c.send({ op: 'pub', topic: `churn-${i}`, data, key: `k${i}`, id: i * 3 + 1 });
    }
    for (let i = b; i < last; i++) await post(http, `churn-${i}`, data, `h${i}`);
    for (let i = b; i < last; i++) c.send({ op: 'unsub', topic: `churn-${i}`, id: i * 3 + 2 });
    // everything before the last unsub's ack has been handled
    for (;;) {
      const m = await c.next(10_000);
      if (m.op === 'err') throw new Error(JSON.stringify(m));
      if (m.op === 'ack' && m.id === (last - 1) * 3 + 2) break;
    }
  }
  c.close();
  await c.closed;
}

describe.each(transports)('memory bounds of the in-process store over %s', (transport) => {
  it('publishing 10 x --max-history-bytes to new topics leaves the process ArrayBuffer memory within the cap', async () => {
    const r = startProbed(['--port', '0', '--transport', transport, '--max-history-bytes', String(CAP)]);
    const { port } = (await r.listening) as { port: number };
    const http = `http://127.0.0.1:${port}`;
    const data = 'y'.repeat(MESSAGE - 2);
    await post(http, 'warm-up', data);
    const before = await probe(r, 1);
    for (let i = 0; i < (10 * CAP) / MESSAGE; i++) await post(http, `t-${i}`, data);
    expect(await metric(http, 'ringcast_history_bytes')).toBeLessThanOrEqual(CAP);
    const after = await probe(r, 1);
    expect(after.arrayBuffers - before.arrayBuffers).toBeLessThanOrEqual(CAP + SLACK);
    expect(after.external - before.external).toBeLessThanOrEqual(CAP + SLACK);
  }, 60_000);

  it('thousands of topics created and dropped leave heap and external memory flat', async () => {
    const r = startProbed(['--port', '0', '--transport', transport, '--history-ttl', '0']);
    const { port } = (await r.listening) as { port: number };
    const http = `http://127.0.0.1:${port}`;
    await churn(port, http, 0, 2000); // warms up code and pools
    const before = await probe(r, 1);
    await churn(port, http, 2000, 6000);
    const after = await probe(r, 1);
    expect(await metric(http, 'ringcast_topics')).toBe(0);
    // under 180 bytes per topic gone (its two idempotency keys alone took about 300 before); a
    // full collection's heap still varies by a few hundred KiB (compiled code, feedback)
    expect(after.heapUsed - before.heapUsed).toBeLessThanOrEqual(MiB);
    expect(after.external - before.external).toBeLessThanOrEqual(512 * 1024);
  }, 120_000);
});
