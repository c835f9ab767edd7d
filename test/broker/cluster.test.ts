// Several ringcast nodes sharing one real redis-server (--broker redis://...): one seq per topic
// and one order for every subscriber on every node, recovery on another node and after a node
// restart, history and presence across nodes, idempotent publishes across nodes.
import { afterEach, describe, expect, it } from 'vitest';
import { Client, type Msg } from '../helpers/client.js';
import { redisFixture, describeWithRedis } from '../helpers/redis.js';
import { startServer, transports, type TestServer } from '../helpers/server.js';
import type { Config } from '../../server/config.js';

let prefixCounter = 0;

describeWithRedis.each(transports)('redis broker, nodes on the %s transport', (transport) => {
  const r = redisFixture();
  const nodes: TestServer[] = [];
  const clients: Client[] = [];

  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    await Promise.all(nodes.splice(0).map((n) => n.close()));
  });

  /** `count` nodes on one fresh key prefix (each test its own namespace in the shared Redis). */
  async function cluster(count: number, overrides: Partial<Config> = {}): Promise<TestServer[]> {
    const brokerPrefix = `t${process.pid}-${transport}-${++prefixCounter}`;
    const started: TestServer[] = [];
    for (let i = 0; i < count; i++) started.push(await startServer(transport, { broker: r.redis.url, brokerPrefix, ...overrides }));
    nodes.push(...started);
    return started;
  }

  async function open(node: TestServer, query = ''): Promise<Client> {
    const c = await Client.open(node.url + query);
    clients.push(c);
    return c;
  }

  async function httpPublish(
    node: TestServer,
    body: unknown,
    headers: Record<string, string> = {},
  ): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }> {
    const res = await fetch(`${node.http}/publish`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown>, headers: res.headers };
  }

  /** The next `n` msg frames of `topic` a client receives (anything else is an error). */
  async function msgs(c: Client, n: number): Promise<Msg[]> {
    const out: Msg[] = [];
    while (out.length < n) {
      const m = await c.next(5000);
      if (m.op !== 'msg') throw new Error(`expected msg, got ${JSON.stringify(m)}`);
      out.push(m);
    }
    return out;
  }

  it('numbers publishes made on three nodes over WebSocket and HTTP in one sequence, seen in the same order everywhere', async () => {
    const [a, b, c] = await cluster(3);
    const subs = await Promise.all([a!, b!, c!].map((n) => open(n)));
    for (const s of subs) expect((await s.request({ op: 'sub', topic: 'room', id: 's' })).seq).toBe(0);
    const pubs = await Promise.all([a!, b!, c!].map((n) => open(n)));
    const N = 60;
    const acks: Promise<unknown>[] = [];
    for (let i = 0; i < N; i++) {
      const node = [a!, b!, c!][i % 3]!;
      if (i % 2 === 0) acks.push(pubs[i % 3]!.request({ op: 'pub', topic: 'room', data: { i }, id: `p${i}` }));
      else acks.push(httpPublish(node, { topic: 'room', data: { i } }));
    }
    await Promise.all(acks);
    const seen = await Promise.all(subs.map((s) => msgs(s, N)));
    for (const list of seen) {
      expect(list.map((m) => m.seq)).toEqual(Array.from({ length: N }, (_, i) => i + 1));
      expect(list.map((m) => (m.data as { i: number }).i)).toEqual(seen[0]!.map((m) => (m.data as { i: number }).i));
    }
    expect(new Set(seen[0]!.map((m) => (m.data as { i: number }).i)).size).toBe(N);
    for (const s of subs) await s.silent(100);
  });

  it('gives one contiguous seq to concurrent publishers on different nodes', async () => {
    const [a, b] = await cluster(2);
    const sub = await open(b!);
    await sub.request({ op: 'sub', topic: 'race', id: 's' });
    const pa = await open(a!);
    const pb = await open(b!);
    const N = 200;
    for (let i = 0; i < N; i++) (i % 2 === 0 ? pa : pb).send({ op: 'pub', topic: 'race', data: i });
    const got = await msgs(sub, N);
    expect(got.map((m) => m.seq)).toEqual(Array.from({ length: N }, (_, i) => i + 1));
  });

  it('subscribes race-free on a node that did not follow the topic while publishes stream in: no gap, no duplicate', async () => {
    const [a, b] = await cluster(2, { history: 1000 });
    const pub = await open(a);
    const N = 400;
    let sent = 0;
    const streaming = (async () => {
      while (sent < N) {
        pub.send({ op: 'pub', topic: 'stream', data: ++sent });
        if (sent % 10 === 0) await new Promise((res) => setTimeout(res, 1));
      }
    })();
    while (sent < 100) await new Promise((res) => setTimeout(res, 1));
    // two first subscribers on node b while messages arrive: one live only, one recovering from 50
    const live = await open(b);
    const recovering = await open(b);
    live.send({ op: 'sub', topic: 'stream', id: 'l' });
    recovering.send({ op: 'sub', topic: 'stream', since: 50, id: 'r' });
    await streaming;
    const liveAck = await live.next(5000);
    expect(liveAck).toMatchObject({ op: 'ack', id: 'l' });
    console.log(`[race] live sub acked at seq ${liveAck.seq as number} of ${N}`);
    const liveMsgs = await msgs(live, N - (liveAck.seq as number));
    expect(liveMsgs.map((m) => m.seq)).toEqual(
      Array.from({ length: N - (liveAck.seq as number) }, (_, i) => (liveAck.seq as number) + i + 1),
    );
    const recAck = await recovering.next(5000);
    expect(recAck).toMatchObject({ op: 'ack', id: 'r', recovered: true });
    const recMsgs = await msgs(recovering, N - 50);
    expect(recMsgs.map((m) => m.data)).toEqual(Array.from({ length: N - 50 }, (_, i) => 51 + i));
    await live.silent(100);
    await recovering.silent(100);
  });

  it('answers a publish with the broker seq, and echo:false skips only the publisher', async () => {
    const [a, b] = await cluster(2);
    const pub = await open(a!);
    const sameNode = await open(a!);
    const other = await open(b!);
    for (const c of [pub, sameNode, other]) await c.request({ op: 'sub', topic: 'echo', id: 's' });
    const ack = await pub.request({ op: 'pub', topic: 'echo', data: 'x', echo: false, id: 'p' });
    expect(ack).toMatchObject({ op: 'ack', id: 'p', seq: 1 });
    expect(await sameNode.next()).toMatchObject({ op: 'msg', seq: 1, data: 'x' });
    expect(await other.next()).toMatchObject({ op: 'msg', seq: 1, data: 'x' });
    await pub.silent(150);
  });

  it('recovers on another node exactly what a client missed: recovered:true, no gap, no duplicate', async () => {
    const [a, b] = await cluster(2);
    const first = await open(a!);
    const ack = await first.request({ op: 'sub', topic: 'rec', id: 's' });
    const pub = await open(b!);
    for (let i = 1; i <= 5; i++) await pub.request({ op: 'pub', topic: 'rec', data: i, id: `p${i}` });
    const before = await msgs(first, 5);
    first.close();
    for (let i = 6; i <= 9; i++) await pub.request({ op: 'pub', topic: 'rec', data: i, id: `p${i}` });
    const again = await open(b!); // another node, which already follows the topic (pub is on it)
    const reAck = await again.request({ op: 'sub', topic: 'rec', since: before[4]!.seq, epoch: ack.epoch, id: 'r' });
    expect(reAck).toMatchObject({ op: 'ack', seq: 9, epoch: ack.epoch, recovered: true });
    expect((await msgs(again, 4)).map((m) => m.data)).toEqual([6, 7, 8, 9]);
    await pub.request({ op: 'pub', topic: 'rec', data: 10, id: 'p10' });
    expect((await msgs(again, 1))[0]).toMatchObject({ seq: 10, data: 10 });
    await again.silent(100);
  });

  it('recovers on a node that did not follow the topic (its first subscriber reads the tail from Redis)', async () => {
    const [a, b, c] = await cluster(3);
    const sub = await open(a!);
    const ack = await sub.request({ op: 'sub', topic: 'cold', id: 's' });
    const pub = await open(b!);
    for (let i = 1; i <= 3; i++) await pub.request({ op: 'pub', topic: 'cold', data: i, id: `p${i}` });
    await msgs(sub, 3);
    sub.close();
    for (let i = 4; i <= 6; i++) await pub.request({ op: 'pub', topic: 'cold', data: i, id: `p${i}` });
    const fresh = await open(c!);
    const reAck = await fresh.request({ op: 'sub', topic: 'cold', since: 3, epoch: ack.epoch, id: 'r' });
    expect(reAck).toMatchObject({ seq: 6, epoch: ack.epoch, recovered: true });
    expect((await msgs(fresh, 3)).map((m) => m.seq)).toEqual([4, 5, 6]);
  });

  it('recovers after the node a client was on restarts', async () => {
    const [a] = await cluster(1);
    const prefix = a!.server.config.brokerPrefix;
    const sub = await open(a!);
    const ack = await sub.request({ op: 'sub', topic: 'restart', id: 's' });
    for (let i = 1; i <= 4; i++) await sub.request({ op: 'pub', topic: 'restart', data: i, id: `p${i}` }).then(() => sub.next());
    sub.close();
    await a!.close();
    nodes.splice(nodes.indexOf(a!), 1);
    const [a2] = await (async () => {
      const n = await startServer(transport, { broker: r.redis.url, brokerPrefix: prefix });
      nodes.push(n);
      return [n];
    })();
    const pub = await open(a2!);
    await pub.request({ op: 'pub', topic: 'restart', data: 5, id: 'p5' });
    const back = await open(a2!);
    const reAck = await back.request({ op: 'sub', topic: 'restart', since: 2, epoch: ack.epoch, id: 'r' });
    expect(reAck).toMatchObject({ seq: 5, epoch: ack.epoch, recovered: true });
    expect((await msgs(back, 3)).map((m) => m.data)).toEqual([3, 4, 5]);
  });

  it('says recovered:false with a replay from the oldest retained when the position is older than the history', async () => {
    const [a, b] = await cluster(2, { history: 3 });
    const pub = await open(a!);
    for (let i = 1; i <= 8; i++) await pub.request({ op: 'pub', topic: 'short', data: i, id: `p${i}` });
    const late = await open(b!);
    const ack = await late.request({ op: 'sub', topic: 'short', since: 2, id: 's' });
    expect(ack).toMatchObject({ seq: 8, recovered: false });
    expect((await msgs(late, 3)).map((m) => m.seq)).toEqual([6, 7, 8]);
    const wrongEpoch = await open(b!);
    expect(await wrongEpoch.request({ op: 'sub', topic: 'short', since: 7, epoch: 'not-this-one', id: 's' })).toMatchObject({
      recovered: false,
    });
  });

  it('serves history from Redis on a node without subscribers, paged like the memory broker', async () => {
    const [a, b] = await cluster(2);
    const pub = await open(a!);
    for (let i = 1; i <= 5; i++) await httpPublish(a!, { topic: 'hist', data: { i } });
    const reader = await open(b!);
    const h = await reader.request({ op: 'history', topic: 'hist', since: 1, limit: 2, id: 'h' });
    expect(h).toMatchObject({ seq: 5, recovered: true, more: true });
    expect((h.messages as { seq: number }[]).map((m) => m.seq)).toEqual([2, 3]);
    const all = await reader.request({ op: 'history', topic: 'hist', since: 0, id: 'h2' });
    expect((all.messages as { data: { i: number } }[]).map((m) => m.data.i)).toEqual([1, 2, 3, 4, 5]);
    expect(await reader.request({ op: 'history', topic: 'nothing-here', since: 0, id: 'h3' })).toMatchObject({
      seq: 0,
      epoch: null,
      messages: [],
      more: false,
    });
    // a read never creates the topic in Redis
    expect(await r.redis.call('EXISTS', `${a!.server.config.brokerPrefix}:{nothing-here}:meta`)).toBe(0);
    void pub;
  });

  it('takes an idempotency key on any node: a repeat returns the first seq and delivers nothing', async () => {
    const [a, b] = await cluster(2);
    const sub = await open(a!);
    await sub.request({ op: 'sub', topic: 'idem', id: 's' });
    const pa = await open(a!);
    const pb = await open(b!);
    const first = await pa.request({ op: 'pub', topic: 'idem', data: 'once', key: 'k-1', id: 'p' });
    expect(first).toMatchObject({ seq: 1 });
    expect(await pb.request({ op: 'pub', topic: 'idem', data: 'once', key: 'k-1', id: 'p' })).toMatchObject({ seq: 1, duplicate: true });
    const http = await httpPublish(b!, { topic: 'idem', data: 'once' }, { 'Idempotency-Key': 'k-1' });
    expect(http).toMatchObject({ status: 200, body: { seq: 1, duplicate: true } });
    expect(await httpPublish(a!, { topic: 'idem', data: 'two' }, { 'Idempotency-Key': 'k-2' })).toMatchObject({
      status: 200,
      body: { seq: 2 },
    });
    expect((await msgs(sub, 2)).map((m) => m.data)).toEqual(['once', 'two']);
    await sub.silent(150);
  });

  it('counts presence over every node, and tells watchers on other nodes who joined and left', async () => {
    const [a, b] = await cluster(2);
    const watcher = await open(a!);
    expect(await watcher.request({ op: 'sub', topic: 'lobby', presence: true, id: 's' })).toMatchObject({ op: 'ack' });
    const onB = await open(b!);
    await onB.request({ op: 'sub', topic: 'lobby', id: 's' });
    const joined = await watcher.next(3000);
    expect(joined).toMatchObject({ op: 'join', topic: 'lobby' });
    const p = await watcher.request({ op: 'presence', topic: 'lobby', id: 'p' });
    expect(p).toMatchObject({ count: 2 });
    expect((p.clients as { client: string }[]).map((c) => c.client)).toContain(joined.client);
    const fromB = await onB.request({ op: 'presence', topic: 'lobby', id: 'p' });
    expect(fromB).toMatchObject({ count: 2 });
    onB.close();
    expect(await watcher.next(3000)).toMatchObject({ op: 'leave', client: joined.client });
    expect(await watcher.request({ op: 'presence', topic: 'lobby', id: 'p2' })).toMatchObject({ count: 1 });
  });

  it('counts every node in presence_sync when join events are dropped past --presence-events', async () => {
    const [a, b] = await cluster(2, { presenceEvents: 2 });
    const watcher = await open(a);
    await watcher.request({ op: 'sub', topic: 'crowd', presence: true, id: 's' });
    for (let i = 0; i < 6; i++) await (await open(b)).request({ op: 'sub', topic: 'crowd', id: `j${i}` });
    const frames: Msg[] = [];
    for (;;) {
      const f = await watcher.next(3000);
      frames.push(f);
      if (f.op === 'presence_sync') break;
    }
    expect(frames.filter((f) => f.op === 'join').length).toBe(2);
    expect(frames.at(-1)).toMatchObject({ op: 'presence_sync', topic: 'crowd', count: 7, dropped: 4 });
  });

  it('subscribes a topic channel only while the node has subscribers, on two Redis connections per node', async () => {
    const [a] = await cluster(1);
    const prefix = a!.server.config.brokerPrefix;
    const channels = async () => ((await r.redis.call('PUBSUB', 'CHANNELS', `${prefix}:{*`)) as string[]).sort();
    const c = await open(a!);
    for (let i = 0; i < 50; i++) await c.request({ op: 'sub', topic: `many-${i}`, id: `s${i}` });
    expect((await channels()).length).toBe(50);
    const list = (await r.redis.call('CLIENT', 'LIST')) as string;
    const mine = list.split('\n').filter((l) => l.includes(`name=ringcast-`) && l.includes('cmd='));
    // every node has exactly one command and one subscriber connection, whatever the topic count
    const names = new Set(mine.map((l) => /name=(\S+)/.exec(l)![1]));
    expect([...names].filter((n) => n.endsWith('-sub')).length).toBeGreaterThanOrEqual(1);
    const nodeNames = [...names].filter((n) => n.startsWith('ringcast-'));
    const perNode = new Map<string, number>();
    for (const n of nodeNames) perNode.set(n.split('-')[1]!, (perNode.get(n.split('-')[1]!) ?? 0) + 1);
    for (const count of perNode.values()) expect(count).toBe(2);
    c.close();
    // the channels go once the topics have been without subscribers for the linger (5 s) and a sweep
    const deadline = Date.now() + 15_000;
    while ((await channels()).length > 0 && Date.now() < deadline) await new Promise((res) => setTimeout(res, 250));
    expect(await channels()).toEqual([]);
  }, 20_000);

  it('with --history 0 retains nothing: delivery goes on, recovery says recovered:false', async () => {
    const [a, b] = await cluster(2, { history: 0 });
    const sub = await open(b);
    const ack = await sub.request({ op: 'sub', topic: 'nohist', id: 's' });
    const pub = await open(a);
    for (let i = 1; i <= 3; i++) expect(await pub.request({ op: 'pub', topic: 'nohist', data: i, id: `${i}` })).toMatchObject({ seq: i });
    expect((await msgs(sub, 3)).map((m) => m.seq)).toEqual([1, 2, 3]);
    const late = await open(a);
    expect(await late.request({ op: 'sub', topic: 'nohist', since: 1, epoch: ack.epoch, id: 'r' })).toMatchObject({
      seq: 3,
      recovered: false,
    });
    await late.silent(100);
    expect(await r.redis.call('EXISTS', `${a!.server.config.brokerPrefix}:{nohist}:stream`)).toBe(0);
  });

  it('answers unavailable, loudly, when Redis refuses writes (maxmemory reached)', async () => {
    const [a] = await cluster(1);
    const pub = await open(a);
    expect(await pub.request({ op: 'pub', topic: 'full', data: 1, id: '1' })).toMatchObject({ op: 'ack', seq: 1 });
    await r.redis.call('CONFIG', 'SET', 'maxmemory', '1');
    try {
      const err = await pub.request({ op: 'pub', topic: 'full', data: 2, id: '2' });
      expect(err).toMatchObject({ op: 'err', id: '2', code: 'unavailable' });
      expect(String(err.msg)).toMatch(/OOM/);
      const res = await fetch(`${a!.http}/publish`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ topic: 'full', data: 3 }),
      });
      expect(res.status).toBe(503);
      await res.text();
    } finally {
      await r.redis.call('CONFIG', 'SET', 'maxmemory', '0');
    }
    expect(await pub.request({ op: 'pub', topic: 'full', data: 4, id: '4' })).toMatchObject({ op: 'ack', seq: 2 });
  });

  it('answers /healthz 200 with the broker state and /livez 200', async () => {
    const [a] = await cluster(1);
    const h = await fetch(`${a!.http}/healthz`);
    expect(h.status).toBe(200);
    expect(await h.json()).toEqual({ status: 'ok', broker: { broker: 'redis', state: 'up' } });
    const l = await fetch(`${a!.http}/livez`);
    expect(l.status).toBe(200);
    expect(await l.json()).toEqual({ status: 'alive' });
  });
});
