// No dead room behind a green badge: the client SDK against real nodes on a real Redis that goes
// away. A `sub` refused with `unavailable` (Redis down, or a node restarted while Redis is down)
// is retried with the reconnect backoff, keeping its position, until it succeeds; meanwhile the
// subscription says `retrying` while the connection says `connected`.
import { afterEach, expect, it } from 'vitest';
import { RingcastClient, type SubscriptionStateChange } from '../../server/client/index.js';
import { Client, sleep, until } from '../helpers/client.js';
import { CutProxy } from '../helpers/proxy.js';
import { describeWithRedis, redisFixture } from '../helpers/redis.js';
import { startServer, transports, type TestServer } from '../helpers/server.js';
import type { Config } from '../../server/config.js';

describeWithRedis.each(transports)('a subscription refused while Redis is down (%s transport)', (transport) => {
  const r = redisFixture({ aof: true });
  const stops: (() => Promise<void>)[] = [];
  let n = 0;

  afterEach(async () => {
    for (const stop of stops.splice(0).reverse()) await stop();
  });

  async function node(broker: string, prefix: string, overrides: Partial<Config> = {}): Promise<TestServer> {
    const s = await startServer(transport, { broker, brokerPrefix: prefix, brokerTimeout: 1000, brokerProbe: 300, ...overrides });
    let closed = false;
    stops.push(async () => void (closed || (await s.close())));
    return { ...s, close: async () => void (closed || ((closed = true), await s.close())) };
  }
  function client(url: string): RingcastClient {
    const c = new RingcastClient(url, { minDelay: 50, maxDelay: 400, pingInterval: 0 });
    stops.push(() => c.close());
    return c;
  }
  async function health(s: TestServer): Promise<number> {
    return (await fetch(`${s.http}/healthz`)).status;
  }
  async function eventually(what: string, check: () => Promise<boolean> | boolean, ms = 15_000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!(await check())) {
      if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
      await sleep(25);
    }
  }

  it('subscribes while Redis is down: retrying, then active once Redis is back, and receives its own messages', async () => {
    const prefix = `sr${process.pid}-${transport}-${++n}`;
    const a = await node(r.redis.url, prefix);
    await r.redis.kill();
    await eventually('/healthz 503', async () => (await health(a)) === 503);

    const c = client(a.url);
    const changes: SubscriptionStateChange[] = [];
    const clientChanges: SubscriptionStateChange[] = [];
    c.on('subscription', (s) => clientChanges.push(s));
    const got: unknown[] = [];
    const sub = c.subscribe('lobby', (data) => got.push(data));
    sub.on('state', (s) => changes.push(s));
    let settled = false;
    void sub.subscribed.then(
      () => (settled = true),
      () => (settled = true),
    );

    await eventually('the refusal seen', () => changes.some((s) => s.state === 'retrying'));
    expect(c.state).toBe('connected');
    expect(changes.find((s) => s.state === 'retrying')).toMatchObject({ topic: 'lobby', code: 'unavailable' });
    expect(clientChanges.some((s) => s.topic === 'lobby' && s.state === 'retrying')).toBe(true);
    await eventually('a second attempt refused too', () => changes.filter((s) => s.state === 'retrying').length >= 2);
    expect(settled).toBe(false); // a transient refusal does not settle the first subscribe

    await r.redis.restart();
    await eventually('the subscription active', () => sub.state === 'subscribed');
    expect(await sub.subscribed).toMatchObject({ seq: 0 });
    const pub = await Client.open(a.url);
    stops.push(async () => pub.close());
    expect(await pub.request({ op: 'pub', topic: 'lobby', data: 'from another', id: 'p' })).toMatchObject({ op: 'ack', seq: 1 });
    expect(await c.publish('lobby', 'my own')).toMatchObject({ seq: 2 });
    await until(() => got.length === 2, 5000);
    expect(got).toEqual(['from another', 'my own']);
  }, 40_000);

  it('requests refused while Redis is down: reads and keyed publishes are asked again until Redis is back, an unkeyed publish rejects at once', async () => {
    const prefix = `sr${process.pid}-${transport}-${++n}`;
    const a = await node(r.redis.url, prefix);
    const c = client(a.url);
    const got: unknown[] = [];
    await c.subscribe('desk', (d) => got.push(d)).subscribed;
    await r.redis.kill();
    await eventually('/healthz 503', async () => (await health(a)) === 503);

    await expect(c.publish('desk', 'unkeyed')).rejects.toMatchObject({ code: 'server', serverCode: 'unavailable' });
    let keyedDone = false;
    const keyed = c.publish('desk', 'keyed', { key: 'k-1', timeout: 30_000 }).finally(() => (keyedDone = true));
    const history = c.history('desk', { timeout: 30_000 });
    const presence = c.presence('desk', { timeout: 30_000 });
    await sleep(1500); // refused several times meanwhile
    expect(keyedDone).toBe(false);
    await r.redis.restart();
    expect(await keyed).toMatchObject({ seq: expect.any(Number) });
    await until(() => got.includes('keyed'), 10_000);
    expect(await history).toMatchObject({ topic: 'desk', epoch: expect.any(String) });
    expect((await presence).count).toBeGreaterThanOrEqual(0);
    expect(got).toEqual(['keyed']); // delivered once; the unkeyed refusal was never published
  }, 40_000);

  it('a node restarted while Redis is unreachable: the re-subscribe is refused, then recovers its position and misses nothing acked', async () => {
    const prefix = `sr${process.pid}-${transport}-${++n}`;
    const link = await CutProxy.start(r.redis.port); // node A's link to Redis
    stops.push(() => link.close());
    const a = await node(`redis://127.0.0.1:${link.port}`, prefix);
    const b = await node(r.redis.url, prefix); // reaches Redis all along
    const c = client(a.url);
    const got: number[] = [];
    const recoveries: { recovered: boolean; count: number }[] = [];
    const sub = c.subscribe('room', (data) => got.push(data as number), { onRecovery: (x) => recoveries.push(x) });
    const changes: SubscriptionStateChange[] = [];
    sub.on('state', (s) => changes.push(s));
    await sub.subscribed;
    for (let i = 1; i <= 3; i++) await c.publish('room', i);
    await until(() => got.length === 3, 5000);

    // A loses Redis and restarts (a deploy) on the same port while Redis stays out of its reach
    link.refuse(true);
    link.cut();
    await a.close();
    const a2 = await node(`redis://127.0.0.1:${link.port}`, prefix, { port: a.port });
    await eventually('the re-subscribe refused on the restarted node', () =>
      changes.some((s) => s.state === 'retrying' && s.code === 'unavailable'),
    );
    expect(c.state).toBe('connected');
    expect(sub.state).toBe('retrying');

    // acknowledged by Redis through node B while the subscription waits
    const pub = await Client.open(b.url);
    stops.push(async () => pub.close());
    for (let i = 4; i <= 8; i++)
      expect(await pub.request({ op: 'pub', topic: 'room', data: i, id: String(i) })).toMatchObject({ op: 'ack' });

    link.refuse(false);
    await eventually('the subscription active again', () => sub.state === 'subscribed');
    expect(await c.publish('room', 9)).toMatchObject({ seq: 9 });
    await until(() => got.length >= 9, 5000);
    await sleep(100); // a duplicate would arrive now
    expect(got).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(recoveries.at(-1)).toMatchObject({ recovered: true, count: 5 });
    void a2;
  }, 40_000);
});
