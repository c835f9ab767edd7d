// What one hostile or careless client can make a node on the Redis broker do: requests answered
// later must not pile up without bound (publishes and reads sent without waiting), topic names
// that look like Redis key syntax must not leak into other keys, and a good client keeps being
// served throughout.
import { afterEach, expect, it } from 'vitest';
import { Client, type Msg } from '../helpers/client.js';
import { CutProxy } from '../helpers/proxy.js';
import { describeWithRedis, redisFixture } from '../helpers/redis.js';
import { startServer, transports, type TestServer } from '../helpers/server.js';

let n = 0;

describeWithRedis.each(transports)('a hostile client on the redis broker (%s transport)', (transport) => {
  const r = redisFixture();
  const nodes: TestServer[] = [];
  const clients: Client[] = [];

  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    await Promise.all(nodes.splice(0).map((s) => s.close()));
  });

  async function node(prefix: string): Promise<TestServer> {
    const s = await startServer(transport, { broker: r.redis.url, brokerPrefix: prefix, maxPayload: 128 * 1024 });
    nodes.push(s);
    return s;
  }

  async function open(s: TestServer): Promise<Client> {
    const c = await Client.open(s.url);
    clients.push(c);
    return c;
  }

  async function answers(c: Client, count: number): Promise<Msg[]> {
    const out: Msg[] = [];
    while (out.length < count) out.push(await c.next(15_000));
    return out;
  }

  it('refuses publishes past the in-flight bound with rate_limited instead of holding them all', async () => {
    // the node's link to Redis holds every byte (a slow Redis): everything admitted stays in flight
    const proxy = await CutProxy.start(r.redis.port);
    const a = await startServer(transport, {
      broker: `redis://127.0.0.1:${proxy.port}`,
      brokerPrefix: `a${process.pid}-${transport}-${++n}`,
      maxPayload: 128 * 1024,
      brokerProbe: 0,
      // the paused link must outlast the flood on a busy machine: nothing may time out meanwhile
      brokerTimeout: 60_000,
    });
    nodes.push(a);
    const flood = await open(a);
    const good = await open(a);
    const data = { blob: 'x'.repeat(64 * 1024) };
    const COUNT = 300; // 19 MiB sent at once; the bound is --max-outbound (8 MiB) per connection
    proxy.pause();
    for (let i = 0; i < COUNT; i++) flood.send({ op: 'pub', topic: 'flood', data, id: String(i) });
    const refused: Msg[] = [];
    const taken = Math.floor((8 * 1024 * 1024) / JSON.stringify(data).length); // what fits in 8 MiB
    while (refused.length < COUNT - taken) refused.push(await flood.next(5000));
    for (const e of refused) expect(e).toMatchObject({ op: 'err', code: 'rate_limited' });
    expect(await good.request({ op: 'ping', id: 'p' })).toMatchObject({ op: 'ack', id: 'p' });
    proxy.resume();
    const acks = await answers(flood, taken);
    for (const m of acks) expect(m).toMatchObject({ op: 'ack' });
    const seqs = acks.map((m) => m.seq as number);
    expect(new Set(seqs).size).toBe(taken);
    // once answered, the connection may publish again
    expect(await flood.request({ op: 'pub', topic: 'flood', data: 1, id: 'again' })).toMatchObject({ op: 'ack', seq: taken + 1 });
    await proxy.close();
  }, 30_000);

  it("bounds the whole node's publish backlog toward a stalled Redis, over many connections and HTTP", async () => {
    const proxy = await CutProxy.start(r.redis.port);
    // --max-outbound 64 KiB: 64 KiB per connection, 16 x 64 KiB = 1 MiB for the node
    const a = await startServer(transport, {
      broker: `redis://127.0.0.1:${proxy.port}`,
      brokerPrefix: `b${process.pid}-${transport}-${++n}`,
      maxOutbound: 64 * 1024,
      brokerProbe: 0,
    });
    nodes.push(a);
    const conns = await Promise.all(Array.from({ length: 20 }, () => open(a)));
    const data = { blob: 'z'.repeat(32 * 1024 - 12) }; // 32 KiB as JSON: two fit a connection's bound
    proxy.pause();
    conns.forEach((c, i) => {
      c.send({ op: 'pub', topic: 'backlog', data, id: `${i}-a` });
      c.send({ op: 'pub', topic: 'backlog', data, id: `${i}-b` });
    });
    const refused: Msg[] = [];
    const deadline = Date.now() + 3000;
    while (refused.length < 8 && Date.now() < deadline) {
      for (const c of conns) {
        const m = await c.next(50).catch(() => undefined);
        if (m !== undefined) refused.push(m);
      }
    }
    expect(refused.length).toBe(8); // 40 x 32 KiB wanted, 32 x 32 KiB = 1 MiB taken
    for (const m of refused)
      expect(m).toMatchObject({ op: 'err', code: 'unavailable', msg: expect.stringContaining('waiting for the broker') });
    const http = await fetch(`${a.http}/publish`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ topic: 'backlog', data }),
    });
    expect(http.status).toBe(503);
    expect(http.headers.get('retry-after')).toBe('1');
    await http.text();
    proxy.resume();
    let acks = 0;
    for (const c of conns) {
      for (;;) {
        const m = await c.next(50).catch(() => undefined);
        if (m === undefined) break;
        if (m.op === 'ack') acks++;
      }
    }
    for (let i = 0; acks < 32 && i < 100; i++) {
      for (const c of conns) {
        const m = await c.next(20).catch(() => undefined);
        if (m?.op === 'ack') acks++;
      }
    }
    expect(acks).toBe(32);
    await proxy.close();
  }, 30_000);

  it('bounds history reads in flight per connection, and each reply by bytes', async () => {
    const p = `h${process.pid}-${transport}-${++n}`;
    const a = await node(p);
    const b = await node(p);
    const pub = await open(a);
    for (let i = 0; i < 40; i++) await pub.request({ op: 'pub', topic: 'big', data: 'y'.repeat(100 * 1024), id: String(i) });
    const reader = await open(b); // node b does not follow 'big': every history read goes to Redis
    const COUNT = 50;
    for (let i = 0; i < COUNT; i++) reader.send({ op: 'history', topic: 'big', since: 0, id: String(i) });
    const got = await answers(reader, COUNT);
    const pages = got.filter((m) => m.op === 'ack');
    for (const e of got.filter((m) => m.op === 'err')) expect(e).toMatchObject({ code: 'rate_limited' });
    expect(pages.length).toBeGreaterThan(0);
    expect(pages.length).toBeLessThan(COUNT);
    for (const page of pages) {
      // a quarter of --max-outbound (2 MiB) per reply: 20 of these 100 KiB messages, then "more"
      expect((page.messages as unknown[]).length).toBeLessThanOrEqual(21);
      expect(page.more).toBe(true);
    }
  }, 30_000);

  it('reads at most 16 topic copies from Redis at once, however many first subscriptions arrive together', async () => {
    const p = `c${process.pid}-${transport}-${++n}`;
    const a = await node(p);
    const b = await node(p);
    const pub = await open(a);
    const TOPICS = 200;
    for (let t = 0; t < TOPICS; t++) await pub.request({ op: 'pub', topic: `copy-${t}`, data: t, id: String(t) });
    // count the reads node b has running at once
    const broker = b.server.broker!;
    const read = broker.read.bind(broker);
    let running = 0;
    let most = 0;
    broker.read = async (...args: Parameters<typeof read>) => {
      most = Math.max(most, ++running);
      try {
        return await read(...args);
      } finally {
        running--;
      }
    };
    const c = await open(b);
    for (let t = 0; t < TOPICS; t++) c.send({ op: 'sub', topic: `copy-${t}`, since: 0, id: String(t) });
    const acks = new Map<string, Msg>();
    while (acks.size < TOPICS) {
      const m = await c.next(10_000);
      if (m.op === 'ack') acks.set(m.id as string, m);
      else expect(m).toMatchObject({ op: 'msg', seq: 1 });
    }
    for (const [id, ack] of acks) expect(ack).toMatchObject({ topic: `copy-${id}`, seq: 1, recovered: true });
    expect(most).toBeGreaterThan(1);
    expect(most).toBeLessThanOrEqual(16);
  }, 30_000);

  it('keeps topic names with Redis key syntax apart across nodes', async () => {
    const p = `k${process.pid}-${transport}-${++n}`;
    const a = await node(p);
    const b = await node(p);
    const names = ['a}b', '{x}', 'room:1', 'room', 'room:1:meta', '*', 'a{b}:stream'];
    const subs = new Map<string, Client>();
    for (const t of names) {
      const c = await open(b);
      expect(await c.request({ op: 'sub', topic: t, id: 's' })).toMatchObject({ op: 'ack', seq: 0 });
      subs.set(t, c);
    }
    const pub = await open(a);
    for (const t of names) expect(await pub.request({ op: 'pub', topic: t, data: t, id: t })).toMatchObject({ op: 'ack', seq: 1 });
    for (const t of names) {
      expect(await subs.get(t)!.next()).toMatchObject({ op: 'msg', topic: t, seq: 1, data: t });
      await subs.get(t)!.silent(50);
    }
  }, 30_000);
});
