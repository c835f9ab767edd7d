// The server's bounds hold in Redis, over every node: --max-history-bytes and --max-topics bind
// Redis's used_memory, a subscription makes no topic record, idle topics go before retained
// messages, and a record Redis loses under subscribers is announced to them. The bounds live in
// Redis (scripts.ts), so one transport is enough here.
import { afterEach, expect, it } from 'vitest';
import { Client, sleep, type Msg } from '../helpers/client.js';
import { describeWithRedis, redisFixture } from '../helpers/redis.js';
import { startServer, type TestServer } from '../helpers/server.js';
import type { Config } from '../../server/config.js';

const PROBE = 300; // --broker-probe

async function until(what: string, check: () => Promise<boolean> | boolean, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await sleep(25);
  }
}

describeWithRedis('Redis holds the server bounds over every node', () => {
  const r = redisFixture();
  const stops: (() => Promise<void>)[] = [];
  let n = 0;

  afterEach(async () => {
    for (const stop of stops.splice(0).reverse()) await stop();
  });

  async function nodes(count: number, overrides: Partial<Config> = {}): Promise<{ prefix: string; nodes: TestServer[] }> {
    const prefix = `b${process.pid}-${++n}`;
    const out: TestServer[] = [];
    for (let i = 0; i < count; i++) {
      const s = await startServer('ws', { broker: r.redis.url, brokerPrefix: prefix, brokerProbe: PROBE, ...overrides });
      stops.push(() => s.close());
      out.push(s);
    }
    return { prefix, nodes: out };
  }

  async function open(s: TestServer): Promise<Client> {
    const c = await Client.open(s.url);
    stops.push(async () => c.close());
    return c;
  }

  const usedMemory = async () => Number((await r.redis.info('memory')).used_memory);
  const records = async (prefix: string) => {
    let cursor = '0';
    let count = 0;
    do {
      const [next, keys] = (await r.redis.call('SCAN', cursor, 'MATCH', `${prefix}:{*}:meta`, 'COUNT', 1000)) as [string, string[]];
      cursor = next;
      count += keys.length;
    } while (cursor !== '0');
    return count;
  };
  const post = (s: TestServer, topic: string, data: unknown) =>
    fetch(`${s.http}/publish`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ topic, data }) });

  it('keeps used_memory within --max-history-bytes after POSTs of 10 x that to new topic names on two nodes', async () => {
    const CAP = 2 * 1024 * 1024;
    const { prefix, nodes: pair } = await nodes(2, { maxHistoryBytes: CAP });
    const before = await usedMemory();
    const data = 'x'.repeat(16_000);
    const total = Math.ceil((10 * CAP) / data.length);
    let next = 0;
    const worker = async () => {
      while (next < total) {
        const i = next++;
        const res = await post(pair[i % 2]!, `flood-${i}`, data);
        expect(res.status).toBe(200);
        await res.text();
      }
    };
    await Promise.all(Array.from({ length: 16 }, worker));
    const after = await usedMemory();
    const retained = Number(await r.redis.call('GET', `${prefix}:bytes`));
    console.log(
      `[bounds] ${total} POSTs of ${data.length + 2} bytes to new topics: used_memory +${after - before} bytes, ${retained} retained, ${await records(prefix)} records`,
    );
    expect(retained).toBeLessThanOrEqual(CAP);
    expect(after - before).toBeLessThan(CAP + 1024 * 1024);
    expect(await r.redis.call('ZCARD', `${prefix}:topics`)).toBe(await records(prefix));
  }, 120_000);

  it('makes no topic record for 10,000 subscriptions to new names on two nodes, and gives the memory back', async () => {
    const { prefix, nodes: pair } = await nodes(2, { maxTopicsPerConnection: 5000 });
    const before = await usedMemory();
    const clients = await Promise.all(pair.map((s) => open(s)));
    await Promise.all(
      clients.map(async (c, k) => {
        for (let i = 0; i < 5000; i++) c.send({ op: 'sub', topic: `ghost-${k}-${i}`, id: String(i) });
        for (let i = 0; i < 5000; i++) {
          const ack = await c.next(30_000);
          expect(ack).toMatchObject({ op: 'ack', seq: 0, epoch: '' });
        }
      }),
    );
    expect(await records(prefix)).toBe(0);
    expect(await r.redis.call('ZCARD', `${prefix}:topics`)).toBe(0);
    for (const c of clients) c.close();
    // presence entries go with the leave, channels after the follow linger (5 s)
    let now = 0;
    // (what stays is Redis's own hash tables, grown for 10,000 channels and 20,000 presence keys)
    await until('used_memory back near where it was', async () => (now = await usedMemory()) - before < 1024 * 1024).catch(
      (err: unknown) => {
        throw new Error(`${String(err)}: +${now - before} bytes`);
      },
    );
    expect(await records(prefix)).toBe(0);
    const left = (await r.redis.call('SCAN', '0', 'MATCH', `${prefix}*`, 'COUNT', 100_000)) as [string, string[]];
    expect(left[1].filter((k) => k !== `${prefix}:gen`)).toEqual([]); // the prefix's epoch generation only
    console.log(`[bounds] 10,000 subscriptions to new names: 0 records; used_memory +${now - before} bytes after they left`);
  }, 120_000);

  it('drops idle topics first (least recently active first), then the oldest retained messages of a followed topic', async () => {
    const data = 'y'.repeat(8000);
    const size = data.length + 2; // JSON quotes
    const { prefix, nodes: pair } = await nodes(2, { maxHistoryBytes: 8 * size });
    const [a, b] = pair as [TestServer, TestServer];
    const sub = await open(b);
    await sub.request({ op: 'sub', topic: 'kept', id: 's' });
    const pub = await open(a);
    for (const t of ['idle-1', 'idle-2']) await pub.request({ op: 'pub', topic: t, data, id: t });
    const exists = async (t: string) => (await r.redis.call('EXISTS', `${prefix}:{${t}}:meta`)) === 1;
    const oldest = async () => {
      const first = (await r.redis.call('XRANGE', `${prefix}:{kept}:stream`, '-', '+', 'COUNT', 1)) as [string, unknown][];
      return Number.parseInt(first[0]![0], 10);
    };
    for (let i = 1; i <= 6; i++) await pub.request({ op: 'pub', topic: 'kept', data, id: `k${i}` });
    expect([await exists('idle-1'), await exists('idle-2'), await oldest()]).toEqual([true, true, 1]); // 8 x size: at the bound
    await pub.request({ op: 'pub', topic: 'kept', data, id: 'k7' });
    expect([await exists('idle-1'), await exists('idle-2'), await oldest()]).toEqual([false, true, 1]);
    await pub.request({ op: 'pub', topic: 'kept', data, id: 'k8' });
    expect([await exists('idle-1'), await exists('idle-2'), await oldest()]).toEqual([false, false, 1]);
    await pub.request({ op: 'pub', topic: 'kept', data, id: 'k9' });
    expect([await exists('kept'), await oldest()]).toEqual([true, 2]); // no idle topic left: the oldest message
    expect(Number(await r.redis.call('GET', `${prefix}:bytes`))).toBe(8 * size);
    const got: Msg[] = [];
    while (got.length < 9) got.push(await sub.next());
    expect(got.map((m) => [m.op, m.seq])).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9].map((s) => ['msg', s]));
    const reader = await open(a);
    const h = await reader.request({ op: 'history', topic: 'kept', since: 0, id: 'h' });
    expect((h.messages as { seq: number }[]).map((m) => m.seq)).toEqual([2, 3, 4, 5, 6, 7, 8, 9]);
  }, 60_000);

  it('holds --max-topics over two nodes: a followed topic stays, an idle one makes room, none left answers topic_limit', async () => {
    const { prefix, nodes: pair } = await nodes(2, { maxTopics: 2 });
    const [a, b] = pair as [TestServer, TestServer];
    const sub = await open(b);
    for (const t of ['f1', 'f2']) await sub.request({ op: 'sub', topic: t, id: t });
    for (const t of ['f1', 'f2']) expect((await post(a, t, 1)).status).toBe(200);
    const refused = await post(a, 'third', 1);
    expect(refused.status).toBe(503);
    expect(await refused.json()).toMatchObject({ error: 'topic_limit' });
    const ws = await open(a);
    expect(await ws.request({ op: 'pub', topic: 'third', data: 1, id: 'p' })).toMatchObject({ op: 'err', code: 'topic_limit' });
    await sub.request({ op: 'unsub', topic: 'f1', id: 'u' });
    // f1 is idle once node b stops following it (after the follow linger)
    await until('f1 unfollowed', async () => {
      const [, count] = (await r.redis.call('PUBSUB', 'NUMSUB', `${prefix}:{f1}`)) as [string, number];
      return count === 0;
    });
    expect((await post(a, 'third', 1)).status).toBe(200);
    expect(await r.redis.call('EXISTS', `${prefix}:{f1}:meta`)).toBe(0);
    expect(await r.redis.call('EXISTS', `${prefix}:{f2}:meta`)).toBe(1);
    expect(await r.redis.call('ZCARD', `${prefix}:topics`)).toBe(2);
  }, 60_000);

  it("tells a topic's subscribers at the periodic check when Redis evicted its record, and goes on in the new epoch", async () => {
    const { prefix, nodes: pair } = await nodes(2);
    const [a, b] = pair as [TestServer, TestServer];
    const sub = await open(a);
    await sub.request({ op: 'pub', topic: 'room', data: 1, id: 'p1' });
    const ack = await sub.request({ op: 'sub', topic: 'room', id: 's' });
    expect(ack).toMatchObject({ seq: 1 });
    // what maxmemory eviction (an allkeys policy) does to a topic: its keys vanish
    await r.redis.call('DEL', `${prefix}:{room}:meta`, `${prefix}:{room}:stream`);
    const resync = await sub.next(PROBE * 10 + 2000); // no publish: the check finds it
    expect(resync).toMatchObject({ op: 'resync', topic: 'room', seq: 0 });
    expect(resync.epoch).not.toBe(ack.epoch);
    const pub = await open(b);
    expect(await pub.request({ op: 'pub', topic: 'room', data: 2, id: 'p2' })).toMatchObject({ seq: 1 });
    expect(await sub.next()).toMatchObject({ op: 'msg', seq: 1, data: 2 });
    await sub.silent(PROBE * 3);
    // the accounting forgot what was lost: what it counts is what is stored
    const tb = (await r.redis.call('HGETALL', `${prefix}:tb`)) as string[];
    let sum = 0;
    for (let i = 1; i < tb.length; i += 2) sum += Number(tb[i]);
    expect(Number(await r.redis.call('GET', `${prefix}:bytes`))).toBe(sum);
    expect(sum).toBe(1); // the one message of the new epoch: "2"
  }, 60_000);
});
