// Redis restarted under running nodes and subscribed clients: a restart that lost nothing (a clean
// SHUTDOWN SAVE, or a SIGKILL with the append-only file at appendfsync always) changes no epoch
// and tells no client it missed anything; a restart that lost data renews (outage.test.ts covers
// the restart without data and the older snapshot).
import { afterEach, expect, it } from 'vitest';
import { RingcastClient } from '../../server/client/index.js';
import { Client, sleep, type Msg } from '../helpers/client.js';
import { describeWithRedis, redisFixture, type RedisServer } from '../helpers/redis.js';
import { startServer, transports, type TestServer } from '../helpers/server.js';

const TIMEOUT = 1000; // --broker-timeout
const PROBE = 300; // --broker-probe

async function until(what: string, check: () => Promise<boolean> | boolean, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await sleep(25);
  }
}

async function healthy(nodes: TestServer[]): Promise<void> {
  await until('/healthz 200 on every node', async () => {
    for (const n of nodes) if ((await fetch(`${n.http}/healthz`)).status !== 200) return false;
    return true;
  });
}

/** Everything a raw client receives, in order. */
function record(c: Client): Msg[] {
  const frames: Msg[] = [];
  void (async () => {
    for (;;) {
      try {
        frames.push(await c.next(120_000));
      } catch {
        return;
      }
    }
  })();
  return frames;
}

describeWithRedis.each(transports)('a Redis restart under running nodes (%s transport)', (transport) => {
  const stops: (() => Promise<void>)[] = [];
  let n = 0;

  afterEach(async () => {
    for (const stop of stops.splice(0).reverse()) await stop();
  });

  async function node(redis: RedisServer, prefix: string): Promise<TestServer> {
    const s = await startServer(transport, { broker: redis.url, brokerPrefix: prefix, brokerTimeout: TIMEOUT, brokerProbe: PROBE });
    stops.push(() => s.close());
    return s;
  }

  async function open(s: TestServer): Promise<Client> {
    const c = await Client.open(s.url);
    stops.push(async () => c.close());
    return c;
  }

  /**
   * Two nodes, a raw subscriber on each and an SDK client on the first; messages before, the
   * restart, messages after: every subscriber sees 1..N in order with no resync frame, the SDK
   * reports no recovery, and a client resuming on the other node is recovered:true.
   */
  async function survives(redis: RedisServer, restart: () => Promise<void>): Promise<void> {
    const prefix = `rs${process.pid}-${transport}-${++n}`;
    const a = await node(redis, prefix);
    const b = await node(redis, prefix);
    const subA = await open(a);
    const subB = await open(b);
    const pub = await open(b);
    // one topic published before anyone subscribed, one subscribed before its first publish
    await pub.request({ op: 'pub', topic: 'old', data: 0, id: 'p0' });
    const acks = [];
    for (const c of [subA, subB]) for (const topic of ['old', 'new']) acks.push(await c.request({ op: 'sub', topic, id: topic }));
    const sdk = new RingcastClient(a.url, { minDelay: 20, maxDelay: 200, pingInterval: 0 });
    stops.push(() => sdk.close());
    const sdkGot: number[] = [];
    const recoveries: unknown[] = [];
    const sdkSub = sdk.subscribe('new', (_data, { seq }) => sdkGot.push(seq), { onRecovery: (x) => recoveries.push(x) });
    await sdkSub.subscribed;
    const seenA = record(subA);
    const seenB = record(subB);
    for (let i = 1; i <= 3; i++) {
      await pub.request({ op: 'pub', topic: 'new', data: i, id: `n${i}` });
      await pub.request({ op: 'pub', topic: 'old', data: i, id: `o${i}` });
    }
    const epochsBefore = await redis.call('HGET', `${prefix}:{old}:meta`, 'e');
    await restart();
    await healthy([a, b]);
    for (let i = 4; i <= 6; i++) {
      await pub.request({ op: 'pub', topic: 'new', data: i, id: `n${i}` });
      await pub.request({ op: 'pub', topic: 'old', data: i, id: `o${i}` });
    }
    await until(
      'every message at every subscriber',
      () => [seenA, seenB].every((s) => s.filter((f) => f.op === 'msg').length >= 12) && sdkGot.length >= 6,
    ).catch((err: unknown) => {
      throw new Error(`${String(err)}: A ${JSON.stringify(seenA)} B ${JSON.stringify(seenB)} sdk ${JSON.stringify(sdkGot)}`);
    });
    await sleep(PROBE * 3); // a resync would come at the latest with the periodic check
    for (const seen of [seenA, seenB]) {
      expect(seen.filter((f) => f.op === 'resync')).toEqual([]);
      expect(seen.filter((f) => f.topic === 'new').map((f) => f.seq)).toEqual([1, 2, 3, 4, 5, 6]);
      expect(seen.filter((f) => f.topic === 'old').map((f) => f.seq)).toEqual([2, 3, 4, 5, 6, 7]);
    }
    expect(sdkGot).toEqual([1, 2, 3, 4, 5, 6]);
    expect(recoveries).toEqual([]);
    expect(sdk.state).toBe('connected');
    expect(await redis.call('HGET', `${prefix}:{old}:meta`, 'e')).toBe(epochsBefore);
    // the operator sees the restart confirmed as lossless on both nodes, never as renewed
    for (const x of [a, b]) {
      const text = await (await fetch(`${x.http}/metrics`)).text();
      expect(text).toMatch(/ringcast_broker_runs_confirmed_total\{verdict="kept"\} [1-9]/);
      expect(text).not.toMatch(/ringcast_broker_runs_confirmed_total\{verdict="renewed"\}/);
    }
    // a client that was at seq 3 of each topic resumes on the other node without a gap
    const oldAck = acks[0]!;
    const newAck = acks[1]!;
    const back = await open(b);
    expect(await back.request({ op: 'sub', topic: 'old', since: 4, epoch: oldAck.epoch, id: 'ro' })).toMatchObject({
      seq: 7,
      epoch: oldAck.epoch,
      recovered: true,
    });
    expect((await back.next()).seq).toBe(5);
    expect((await back.next()).seq).toBe(6);
    expect((await back.next()).seq).toBe(7);
    expect(newAck.epoch).toBe(''); // subscribed before the first publish
    expect(await back.request({ op: 'sub', topic: 'new', since: 3, epoch: '', id: 'rn' })).toMatchObject({
      seq: 6,
      epoch: '',
      recovered: true,
    });
  }

  describeWithRedis('with the RDB written by a clean SHUTDOWN SAVE', () => {
    const r = redisFixture();
    it('changes no epoch: no resync frame, no recovery report, a returning client recovered:true', async () => {
      await survives(r.redis, async () => {
        await r.redis.call('SHUTDOWN', 'SAVE').catch(() => undefined); // the reply never comes: it exits
        await r.redis.restart();
      });
    }, 60_000);
  });

  describeWithRedis('with the append-only file at appendfsync always', () => {
    const r = redisFixture({ aof: true });
    it('SIGKILLed and restarted: changes no epoch, no resync frame, no recovery report', async () => {
      await survives(r.redis, async () => {
        await r.redis.kill();
        await r.redis.restart();
      });
    }, 60_000);

    it('a node that saw more than Redis has after the restart renews every epoch (a lost tail)', async () => {
      // what AOF everysec loses: the last publishes, acknowledged to the node, gone from the file.
      // Here they are taken back by hand before the crash: the node saw watermark 3, Redis keeps 2.
      const prefix = `rl${process.pid}-${transport}-${++n}`;
      const a = await node(r.redis, prefix);
      const sub = await open(a);
      await sub.request({ op: 'pub', topic: 'tail', data: 1, id: 'p1' });
      const ack = await sub.request({ op: 'sub', topic: 'tail', id: 's' });
      for (let i = 2; i <= 3; i++) await sub.request({ op: 'pub', topic: 'tail', data: i, id: `p${i}` }).then(() => sub.next());
      const seen = record(sub);
      await r.redis.call('HSET', `${prefix}:{tail}:meta`, 's', 2);
      await r.redis.call('XTRIM', `${prefix}:{tail}:stream`, 'MAXLEN', 2);
      await r.redis.call('SET', `${prefix}:wm`, 2);
      await r.redis.kill();
      await r.redis.restart();
      await healthy([a]);
      await until('a resync', () => seen.some((f) => f.op === 'resync'));
      const resync = seen.find((f) => f.op === 'resync')!;
      expect(resync).toMatchObject({ topic: 'tail', seq: 2 });
      expect(resync.epoch).not.toBe(ack.epoch);
      const text = await (await fetch(`${a.http}/metrics`)).text();
      expect(text).toMatch(/ringcast_broker_runs_confirmed_total\{verdict="renewed"\} 1/);
    }, 60_000);
  });
});
