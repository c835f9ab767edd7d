// --workers with --broker redis: two processes of two workers each on one real redis-server.
// One set of Redis connections per process (not per worker), each channel subscribed once per
// process, one seq per topic across every worker of every process, and an outage seen by all.
import { afterEach, expect, it } from 'vitest';
import { Client, sleep, type Msg } from '../helpers/client.js';
import { startCli, type Running } from '../helpers/cli.js';
import { describeWithRedis, redisFixture } from '../helpers/redis.js';
import { transports } from '../helpers/server.js';

interface Node {
  r: Running;
  url: string;
  http: string;
}

describeWithRedis.each(transports)('--workers 2 with the redis broker on the %s transport', (transport) => {
  const r = redisFixture({ aof: true });
  const clients: Client[] = [];
  afterEach(() => {
    for (const c of clients.splice(0)) c.close();
  });

  async function node(prefix: string): Promise<Node> {
    const run = startCli([
      '--port',
      '0',
      '--workers',
      '2',
      '--transport',
      transport,
      '--broker',
      r.redis.url,
      '--broker-prefix',
      prefix,
      '--broker-timeout',
      '1000',
      '--broker-probe',
      '300',
    ]);
    const line = (await run.listening) as { port: number };
    return { r: run, url: `ws://127.0.0.1:${line.port}/ws`, http: `http://127.0.0.1:${line.port}` };
  }

  async function open(n: Node): Promise<Client> {
    const c = await Client.open(n.url);
    clients.push(c);
    return c;
  }

  async function msgs(c: Client, n: number, ms = 5000): Promise<Msg[]> {
    const out: Msg[] = [];
    while (out.length < n) {
      const m = await c.next(ms);
      if (m.op === 'msg') out.push(m);
    }
    return out;
  }

  const health = async (n: Node) => (await fetch(`${n.http}/healthz`, { headers: { connection: 'close' } })).status;

  it('uses two Redis connections per process and subscribes each channel once per process', async () => {
    const prefix = `w${transport}1`;
    const [a, b] = [await node(prefix), await node(prefix)];
    // two subscribers per process, one on each of its workers
    const subs = [await open(a), await open(a), await open(b), await open(b)];
    for (const [i, s] of subs.entries()) expect(await s.request({ op: 'sub', topic: 'room', id: i })).toMatchObject({ op: 'ack', seq: 0 });
    const numsub = (await r.redis.call('PUBSUB', 'NUMSUB', `${prefix}:{room}`)) as [string, number];
    expect(Number(numsub[1])).toBe(2); // one per process, not one per worker
    const list = (await r.redis.call('CLIENT', 'LIST')) as string;
    const names = list
      .split('\n')
      .map((l) => /name=(ringcast-\S+)/.exec(l)?.[1])
      .filter((n): n is string => n !== undefined);
    expect(names.length).toBe(4); // 2 processes x (command + subscriber)
    // publishers on every worker of both processes, all at once: one seq, one order everywhere
    const pubs = [await open(a), await open(a), await open(b), await open(b)];
    for (let i = 0; i < 50; i++) for (const [p, pub] of pubs.entries()) pub.send({ op: 'pub', topic: 'room', data: { p, i } });
    const seen = await Promise.all(subs.map((s) => msgs(s, 200)));
    expect(seen[0]!.map((m) => m.seq)).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
    for (const s of seen.slice(1)) expect(s.map((m) => JSON.stringify(m.data))).toEqual(seen[0]!.map((m) => JSON.stringify(m.data)));
  });

  it('reports a Redis outage on every worker and delivers again once Redis is back', async () => {
    const prefix = `w${transport}2`;
    const [a, b] = [await node(prefix), await node(prefix)];
    const subs = [await open(a), await open(a)];
    for (const s of subs) await s.request({ op: 'sub', topic: 'o', id: 1 });
    const pub = await open(b);
    expect(await pub.request({ op: 'pub', topic: 'o', data: 1, id: 2 })).toMatchObject({ op: 'ack', seq: 1 });
    await Promise.all(subs.map((s) => msgs(s, 1)));
    await r.redis.kill();
    const down = Date.now();
    // every request lands on some worker: all of them answer 503 soon
    for (let i = 0; i < 4; i++) {
      while ((await health(a)) !== 503 && Date.now() - down < 20_000) await sleep(10);
      expect(await health(a)).toBe(503);
    }
    const refused = await pub.request({ op: 'pub', topic: 'o', data: 'x', id: 3 });
    expect(refused).toMatchObject({ op: 'err', code: 'unavailable' });
    await r.redis.restart();
    const up = Date.now();
    while (((await health(a)) !== 200 || (await health(b)) !== 200) && Date.now() - up < 20_000) await sleep(20);
    for (let i = 0; i < 4; i++) expect(await health(a)).toBe(200);
    expect(await pub.request({ op: 'pub', topic: 'o', data: 2, id: 4 })).toMatchObject({ op: 'ack' });
    for (const s of subs) {
      // a resync (Redis restarted: a new epoch) may come first; the message always does
      const got: Msg[] = [];
      while (!got.some((m) => m.op === 'msg')) got.push(await s.next(5000));
      expect(got.find((m) => m.op === 'msg')).toMatchObject({ data: 2 });
    }
  }, 90_000); // generous: worker threads and Redis restarts on a busy machine
});
