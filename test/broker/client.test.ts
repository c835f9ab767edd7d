// The client SDK against a cluster on the Redis broker: a node goes away, the load balancer
// sends the reconnect to another node, and the subscription resumes there with nothing lost or
// doubled; Redis loses the topic, and the subscription is told at once by the resync frame.
import { createServer, connect, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { RingcastClient } from '../../server/client/index.js';
import { Client, sleep, until } from '../helpers/client.js';
import { redisFixture, describeWithRedis } from '../helpers/redis.js';
import { startServer, transports, type TestServer } from '../helpers/server.js';

/** A TCP load balancer of one backend at a time; `point()` sends new connections elsewhere. */
class Balancer {
  private readonly sockets = new Set<Socket>();
  private constructor(
    private readonly server: Server,
    readonly port: number,
    private target: number,
  ) {}

  static async start(target: number): Promise<Balancer> {
    let self!: Balancer;
    const server = createServer((client) => self.forward(client));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    self = new Balancer(server, (server.address() as { port: number }).port, target);
    return self;
  }

  point(target: number): void {
    this.target = target;
  }

  private forward(client: Socket): void {
    const upstream = connect(this.target, '127.0.0.1');
    for (const s of [client, upstream]) {
      this.sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => {
        this.sockets.delete(s);
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream);
    upstream.pipe(client);
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise((r) => this.server.close(r));
  }
}

describeWithRedis.each(transports)('the client on the redis broker (%s transport)', (transport) => {
  const r = redisFixture();
  const stops: (() => Promise<void>)[] = [];
  let n = 0;

  afterEach(async () => {
    for (const stop of stops.splice(0).reverse()) await stop();
  });

  async function node(prefix: string): Promise<TestServer> {
    const s = await startServer(transport, { broker: r.redis.url, brokerPrefix: prefix, brokerTimeout: 1000, brokerProbe: 300 });
    stops.push(() => s.close());
    return s;
  }

  it('resumes on another node when its node goes away: every message once, in order, recovered', async () => {
    const prefix = `c${process.pid}-${transport}-${++n}`;
    const a = await node(prefix);
    const b = await node(prefix);
    const lb = await Balancer.start(a.port);
    stops.push(() => lb.close());
    const client = new RingcastClient(`ws://127.0.0.1:${lb.port}/ws`, { minDelay: 20, maxDelay: 200, pingInterval: 0 });
    stops.push(() => client.close());
    const got: number[] = [];
    const recoveries: { recovered: boolean; count: number }[] = [];
    const sub = client.subscribe('ticker', (data) => got.push(data as number), { onRecovery: (x) => recoveries.push(x) });
    await sub.subscribed;
    const pub = await Client.open(b.url);
    stops.push(async () => pub.close());
    let sent = 0;
    const publish = async (upTo: number) => {
      while (sent < upTo) {
        await pub.request({ op: 'pub', topic: 'ticker', data: ++sent, id: String(sent) });
      }
    };
    await publish(50);
    await until(() => got.length === 50, 5000);
    lb.point(b.port);
    await a.close(); // node A goes away (a deploy): its clients get 1001 and reconnect through the balancer
    await publish(80); // published while the client has no node
    await until(() => recoveries.length > 0, 5000);
    await publish(100);
    await until(() => got.length >= 100, 5000);
    await sleep(100);
    expect(got).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
    expect(recoveries[0]).toMatchObject({ recovered: true });
  }, 30_000);

  it('reports a resync at once when Redis lost the topic, and goes on delivering', async () => {
    const prefix = `c${process.pid}-${transport}-${++n}`;
    const a = await node(prefix);
    const client = new RingcastClient(a.url, { minDelay: 20, maxDelay: 200, pingInterval: 0 });
    stops.push(() => client.close());
    const got: { seq: number; data: unknown }[] = [];
    const recoveries: { recovered: boolean; epochChanged: boolean }[] = [];
    const sub = client.subscribe('wall', (data, { seq }) => got.push({ seq, data }), { onRecovery: (x) => recoveries.push(x) });
    const first = await sub.subscribed;
    const pub = await Client.open(a.url);
    stops.push(async () => pub.close());
    await pub.request({ op: 'pub', topic: 'wall', data: 'before', id: '1' });
    await until(() => got.length === 1, 5000);
    await r.redis.restartEmpty();
    await until(() => recoveries.length === 1, 8000);
    expect(recoveries[0]).toMatchObject({ recovered: false, epochChanged: true });
    expect(client.state).toBe('connected'); // told in-band: the connection never dropped
    for (let i = 0; i < 200 && (await fetch(`${a.http}/healthz`)).status !== 200; i++) await sleep(25);
    await pub.request({ op: 'pub', topic: 'wall', data: 'after', id: '2' });
    await until(() => got.length === 2, 5000);
    expect(got[1]).toEqual({ seq: 1, data: 'after' });
    void first;
  }, 30_000);
});
