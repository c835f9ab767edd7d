// A subscriber of a topic nobody has published to yet (acked at seq 0, epoch "") loses its node;
// the topic's first publish happens on another node meanwhile. Subscribing again with since 0 and
// epoch "" on a node that was not there must give it that message (recovered) or say it cannot.
import { afterEach, expect, it } from 'vitest';
import { startCli } from '../helpers/cli.js';
import { Client, type Msg } from '../helpers/client.js';
import { describeWithRedis, redisFixture } from '../helpers/redis.js';
import { startServer, transports, type TestServer } from '../helpers/server.js';
import type { TransportName } from '../../server/transport/types.js';

const cases = transports.flatMap((t) => [
  [t, 1],
  [t, 2],
]) as [TransportName, number][];

describeWithRedis.each(cases)('the first publish of a topic while its subscriber is away (%s, %i workers)', (transport, workers) => {
  const r = redisFixture();
  const stops: (() => Promise<void>)[] = [];
  let n = 0;
  afterEach(async () => {
    for (const stop of stops.splice(0).reverse()) await stop();
  });
  async function node(prefix: string): Promise<{ url: string; close: () => Promise<void> }> {
    const flags = { broker: r.redis.url, brokerPrefix: prefix, brokerTimeout: 1000, brokerProbe: 300 };
    if (workers === 1) {
      const s: TestServer = await startServer(transport, flags);
      stops.push(() => s.close());
      return s;
    }
    // --workers: the topic is followed through the main thread's broker host
    // prettier-ignore
    const p = startCli(['--port', '0', '--transport', transport, '--workers', String(workers), '--broker', flags.broker,
      '--broker-prefix', prefix, '--broker-timeout', '1000', '--broker-probe', '300']);
    const { port } = (await p.listening) as { port: number };
    const close = async () => {
      p.child.kill('SIGKILL');
      await p.exited;
    };
    stops.push(close);
    return { url: `ws://127.0.0.1:${port}/ws`, close };
  }
  async function open(s: { url: string }): Promise<Client> {
    const c = await Client.open(s.url);
    stops.push(async () => c.close());
    return c;
  }

  for (const size of [100, 900 * 1024])
    it(`a message of ${size} bytes is replayed on the new node`, async () => {
      const prefix = `fp${process.pid}-${transport}-${++n}`;
      const a = await node(prefix);
      const b = await node(prefix);
      const sub = await open(a);
      const ack = await sub.request({ op: 'sub', topic: 'room', id: 's' });
      expect(ack).toMatchObject({ op: 'ack', seq: 0, epoch: '' });
      sub.close();
      await a.close();
      const pub = await open(b);
      const data = 'x'.repeat(size);
      expect(await pub.request({ op: 'pub', topic: 'room', data, id: 'p' })).toMatchObject({ op: 'ack', seq: 1 });
      const again = await open(await node(prefix));
      const back = await again.request({ op: 'sub', topic: 'room', since: 0, epoch: '', id: 's2' });
      expect(back).toMatchObject({ op: 'ack', seq: 1 });
      if (back.recovered !== true) return; // told: the app knows it missed something
      const msg: Msg = await again.next(10_000);
      expect(msg).toMatchObject({ op: 'msg', topic: 'room', seq: 1 });
      expect(msg.data).toBe(data);
    });
});
