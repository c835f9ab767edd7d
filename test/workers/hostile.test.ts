// --workers 2 against hostile or unlucky clients and timings, on the built CLI, on both
// transports: what a client can make the main thread hold on to, and what it must not.
import { afterEach, describe, expect, it } from 'vitest';
import { Client, sleep, until } from '../helpers/client.js';
import { startCli, type Running } from '../helpers/cli.js';
import { clientFrame, RawClient } from '../helpers/raw.js';
import { transports } from '../helpers/server.js';
import { encodeMsg, jsonAscii } from '../../server/protocol/encode.js';

interface Cluster {
  r: Running;
  port: number;
  http: string;
}

const raws: RawClient[] = [];
const clients: Client[] = [];
afterEach(() => {
  for (const c of raws.splice(0)) c.destroy();
  for (const c of clients.splice(0)) c.close();
});

async function cluster(transport: string, args: string[] = [], env: Record<string, string> = {}): Promise<Cluster> {
  const r = startCli(['--port', '0', '--workers', '2', '--transport', transport, '--log-level', 'info', ...args], env);
  const line = (await r.listening) as { port: number };
  return { r, port: line.port, http: `http://127.0.0.1:${line.port}` };
}

async function raw(c: Cluster): Promise<RawClient> {
  const client = await RawClient.handshake(c.port);
  raws.push(client);
  return client;
}

async function open(c: Cluster): Promise<Client> {
  const client = await Client.open(`ws://127.0.0.1:${c.port}/ws`);
  clients.push(client);
  return client;
}

/** A series of /metrics summed over its labels. */
async function metric(c: Cluster, name: string): Promise<number> {
  const body = await (await fetch(`${c.http}/metrics`, { headers: { connection: 'close' } })).text();
  let sum = 0;
  for (const line of body.split('\n')) if (line.startsWith(name + ' ') || line.startsWith(name + '{')) sum += Number(line.split(' ').pop());
  return sum;
}

/** Ten publishes from `pub`, acked. */
async function publishTen(pub: Client): Promise<void> {
  for (let i = 1; i <= 10; i++) pub.send({ op: 'pub', topic: 'n', data: i, id: i });
  for (let i = 1; i <= 10; i++) expect(await pub.next(5000)).toMatchObject({ op: 'ack', id: i });
}

const text = (o: object) => clientFrame(0x1, JSON.stringify(o));

async function publish(c: Cluster, topic: string): Promise<Record<string, unknown>> {
  const res = await fetch(`${c.http}/publish`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', connection: 'close' },
    body: JSON.stringify({ topic, data: 1 }),
  });
  return (await res.json()) as Record<string, unknown>;
}

/** Reads text messages until the answer to request `id` (or an error without an id). */
async function answerTo(c: RawClient, id: number): Promise<Record<string, unknown>> {
  for (;;) {
    const m = await c.nextJson(5000);
    if (m.id === id || (m.op === 'err' && m.id === undefined)) return m;
  }
}

describe.each(transports)('--workers 2 against hostile clients on the %s transport', (transport) => {
  it('stops following a topic its worker dropped while the follow was pending (no topic pinned in the broker)', async () => {
    // --max-topics 1: the worker's second topic pushes out the first (vacated, still syncing), so
    // its unfollow reaches the main thread before the follow is answered
    const c = await cluster(transport, ['--max-topics', '1']);
    const a = await raw(c);
    a.write(
      Buffer.concat([
        text({ op: 'sub', topic: 'a', id: 1 }),
        text({ op: 'unsub', topic: 'a', id: 2 }),
        text({ op: 'sub', topic: 'b', id: 3 }),
      ]),
    );
    expect(await answerTo(a, 3)).toMatchObject({ op: 'ack', topic: 'b' });
    a.write(text({ op: 'unsub', topic: 'b', id: 4 }));
    expect(await answerTo(a, 4)).toMatchObject({ op: 'ack', topic: 'b' });
    // once b is no longer followed (the worker's linger), topic a takes the one place
    let first: Record<string, unknown> = {};
    for (let i = 0; i < 100 && first.seq === undefined; i++) {
      first = await publish(c, 'a');
      if (first.seq === undefined) await sleep(200);
    }
    expect(first).toMatchObject({ seq: 1 });
    // nobody follows a: a new topic takes its place
    expect(await publish(c, 'd')).toMatchObject({ seq: 1 });
  }, 30_000);

  it('answers a sub that an unsub overtook while its first subscription was pending, before the unsub', async () => {
    const c = await cluster(transport);
    const a = await raw(c);
    a.write(Buffer.concat([text({ op: 'sub', topic: 'q', id: 1 }), text({ op: 'unsub', topic: 'q', id: 2 })]));
    expect(await a.nextJson(5000)).toMatchObject({ op: 'err', id: 1, code: 'not_subscribed' });
    expect(await a.nextJson(5000)).toMatchObject({ op: 'ack', id: 2, topic: 'q' });
    // and it is not subscribed: a publish does not reach it
    expect(await publish(c, 'q')).toMatchObject({ seq: 1, subscribers: 0 });
    a.write(text({ op: 'sub', topic: 'q', id: 3 }));
    expect(await answerTo(a, 3)).toMatchObject({ op: 'ack', seq: 1 });
  });

  it("keeps a dead worker's counts in /metrics: a counter never goes down", async () => {
    const c = await cluster(transport, [], { RINGCAST_FAULT_INJECTION: '1' });
    const a = await open(c); // worker 0: it will die
    await open(c); // worker 1
    await publishTen(a);
    expect(await metric(c, 'ringcast_publishes_total')).toBe(10);
    c.r.child.kill('SIGUSR2');
    await a.closed;
    await until(() => c.r.lines.some((l) => l.event === 'worker_exit'), 2000);
    expect(await metric(c, 'ringcast_publishes_total')).toBe(10);
    expect(await metric(c, 'ringcast_messages_in_total')).toBeGreaterThanOrEqual(10);
  });

  it("keeps a stalled worker's counts in /metrics while it cannot answer", async () => {
    const c = await cluster(transport, [], { RINGCAST_FAULT_INJECTION: 'stall' });
    await open(c); // worker 0: it answers the scrape
    const b = await open(c); // worker 1: it will stall
    await publishTen(b);
    expect(await metric(c, 'ringcast_publishes_total')).toBe(10);
    c.r.child.kill('SIGUSR2');
    await sleep(100);
    expect(await metric(c, 'ringcast_publishes_total')).toBe(10);
  });

  it('refuses a sub past --max-topics over every worker with topic_limit, answered by its id', async () => {
    // each worker's store holds 2; the broker's 2 are both followed (a on worker 0): b's third topic cannot be made
    const c = await cluster(transport, ['--max-topics', '2']);
    const a = await raw(c); // worker 0
    const b = await raw(c); // worker 1
    a.write(Buffer.concat([text({ op: 'sub', topic: 'x', id: 1 }), text({ op: 'sub', topic: 'y', id: 2 })]));
    expect(await answerTo(a, 1)).toMatchObject({ op: 'ack', topic: 'x' });
    expect(await answerTo(a, 2)).toMatchObject({ op: 'ack', topic: 'y' });
    b.write(text({ op: 'sub', topic: 'z', id: 7 }));
    expect(await answerTo(b, 7)).toMatchObject({ op: 'err', id: 7, code: 'topic_limit' });
    // and it holds nothing: once a slot is free, the same sub is served
    a.write(text({ op: 'unsub', topic: 'x', id: 3 }));
    expect(await answerTo(a, 3)).toMatchObject({ op: 'ack' });
    let answer: Record<string, unknown> = {};
    for (let i = 0; i < 100 && answer.op !== 'ack'; i++) {
      if (i > 0) await sleep(200);
      b.write(text({ op: 'sub', topic: 'z', id: 8 + i }));
      answer = await answerTo(b, 8 + i);
    }
    expect(answer).toMatchObject({ op: 'ack', topic: 'z' });
  }, 30_000);

  it('answers /healthz 503 on new connections for --drain-delay, as one process does', async () => {
    const c = await cluster(transport, ['--drain-delay', '1500']);
    const before = await fetch(`${c.http}/healthz`, { headers: { connection: 'close' } });
    expect(before.status).toBe(200);
    c.r.child.kill('SIGTERM');
    await until(() => c.r.lines.some((l) => l.event === 'draining' && l.worker === 'main'), 2000);
    await sleep(100);
    const during = await fetch(`${c.http}/healthz`, { headers: { connection: 'close' }, signal: AbortSignal.timeout(1000) });
    expect(during.status).toBe(503);
    expect(await c.r.exited).toBe(0);
  });

  it("shows the server's topics and retained bytes in /metrics, not each worker's copies", async () => {
    const c = await cluster(transport);
    const a = await open(c); // worker 0
    const b = await open(c); // worker 1
    for (const s of [a, b]) expect(await s.request({ op: 'sub', topic: 't', id: 1 })).toMatchObject({ op: 'ack' });
    await publish(c, 't');
    for (const topic of ['u', 'v', 'w']) await publish(c, topic); // retained, nobody subscribed
    for (const s of [a, b]) expect(await s.next()).toMatchObject({ op: 'msg', seq: 1 });
    // four topics, each with one retained message whose data is 1 byte: what the broker holds is its frame
    const frame = encodeMsg(jsonAscii('t'), 1, Buffer.from('1')).frame.length;
    expect(await metric(c, 'ringcast_topics')).toBe(4);
    expect(await metric(c, 'ringcast_history_bytes')).toBe(4 * frame);
  });

  it("counts the server's topic evictions, not a worker dropping its copy", async () => {
    const c = await cluster(transport, ['--max-topics', '2']);
    for (const topic of ['u', 'v', 'w']) expect(await publish(c, topic)).toMatchObject({ seq: 1 }); // w pushes out u
    expect(await metric(c, 'ringcast_topics_evicted_total{reason="max_topics"}')).toBe(1);
    expect(await metric(c, 'ringcast_topics')).toBe(2);
    // a worker's copy of v, dropped once its only subscriber has been gone a while, is no eviction
    const a = await open(c);
    expect(await a.request({ op: 'sub', topic: 'v', id: 1 })).toMatchObject({ op: 'ack' });
    expect(await a.request({ op: 'unsub', topic: 'v', id: 2 })).toMatchObject({ op: 'ack' });
    await sleep(7000);
    expect(await metric(c, 'ringcast_topics_evicted_total')).toBe(1);
  }, 20_000);
});
