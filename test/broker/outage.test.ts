// Redis outages caused for real: redis-server SIGKILLed and restarted (with its data, without
// it, from an older snapshot), one node's link cut or silenced by a TCP proxy, a node killed,
// a node started while Redis is unreachable. Each test asserts what clients and the operator
// see, with timings.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { Client, type Msg } from '../helpers/client.js';
import { CutProxy } from '../helpers/proxy.js';
import { describeWithRedis, redisFixture } from '../helpers/redis.js';
import { startServer, transports, type TestServer } from '../helpers/server.js';
import type { Config } from '../../server/config.js';

const CLI = fileURLToPath(new URL('../../dist/server/cli.js', import.meta.url));
const TIMEOUT = 1000; // --broker-timeout of these tests
const PROBE = 300; // --broker-probe of these tests

let prefixCounter = 0;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(what: string, check: () => Promise<boolean> | boolean, ms = 10_000): Promise<number> {
  const start = Date.now();
  while (!(await check())) {
    if (Date.now() - start > ms) throw new Error(`${what}: not within ${ms} ms`);
    await sleep(25);
  }
  return Date.now() - start;
}

/**
 * A publish by a subscriber of its topic: its ack and its own msg, in whichever order they came.
 * The ack comes back on the publishing link and the msg on the channel's: a busy node may deliver
 * either first.
 */
async function publishOwn(c: Client, req: Record<string, unknown>): Promise<{ ack: Msg; msg: Msg }> {
  const first = await c.request(req);
  const second = await c.next();
  return first.op === 'msg' ? { ack: second, msg: first } : { ack: first, msg: second };
}

async function health(node: TestServer): Promise<number> {
  return (await fetch(`${node.http}/healthz`)).status;
}

/** A client that records everything it receives: msg frames, resync frames and the rest. */
function recorder(c: Client): { frames: Msg[]; stop: () => void } {
  const frames: Msg[] = [];
  let on = true;
  void (async () => {
    while (on) {
      try {
        frames.push(await c.next(60_000));
      } catch {
        return;
      }
    }
  })();
  return { frames, stop: () => void (on = false) };
}

/**
 * What a subscriber saw holds the guarantee: seqs go up by one within an epoch, and an epoch
 * changes only at a resync frame naming the topic and the new epoch, before any of its messages.
 */
function expectNoSilentJump(frames: Msg[], topic: string, epoch: string, from: number): void {
  let seq = from;
  for (const f of frames) {
    if (f.op === 'resync') {
      expect(f.topic).toBe(topic);
      epoch = f.epoch as string;
      seq = f.seq as number;
    } else if (f.op === 'msg' && f.topic === topic) {
      expect(f.seq, `after seq ${seq} of ${epoch}`).toBe(seq + 1);
      seq = f.seq as number;
    }
  }
}

describeWithRedis.each(transports)('redis outages, nodes on the %s transport', (transport) => {
  const nodes: TestServer[] = [];
  const clients: Client[] = [];
  const cleanups: (() => Promise<void>)[] = [];

  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    await Promise.all(nodes.splice(0).map((n) => n.close()));
    for (const f of cleanups.splice(0)) await f();
  });

  async function node(url: string, prefix: string, overrides: Partial<Config> = {}): Promise<TestServer> {
    const n = await startServer(transport, { broker: url, brokerPrefix: prefix, brokerTimeout: TIMEOUT, brokerProbe: PROBE, ...overrides });
    nodes.push(n);
    return n;
  }

  async function open(n: TestServer): Promise<Client> {
    const c = await Client.open(n.url);
    clients.push(c);
    return c;
  }

  const prefix = () => `o${process.pid}-${transport}-${++prefixCounter}`;

  /** Node a reaches Redis through a TCP proxy the test controls, node b directly; one prefix. */
  async function behindProxy(redisPort: number, redisUrl: string): Promise<{ proxy: CutProxy; a: TestServer; b: TestServer }> {
    const p = prefix();
    const proxy = await CutProxy.start(redisPort);
    cleanups.push(() => proxy.close());
    return { proxy, a: await node(`redis://127.0.0.1:${proxy.port}`, p), b: await node(redisUrl, p) };
  }

  describe('with the append-only file on (appendfsync always)', () => {
    const r = redisFixture({ aof: true });

    it('SIGKILLed mid-run while publishers retry with keys: no acked message lost, none duplicated, failures within the timeout, /healthz 503 then 200', async () => {
      const p = prefix();
      const a = await node(r.redis.url, p);
      const b = await node(r.redis.url, p);
      const subA = await open(a);
      const subB = await open(b);
      const ackA = await subA.request({ op: 'sub', topic: 'orders', id: 's' });
      await subB.request({ op: 'sub', topic: 'orders', id: 's' });
      const seenA = recorder(subA);
      const seenB = recorder(subB);

      const acked = new Set<string>();
      const failures: number[] = []; // ms each failed attempt took to be answered
      let stop = false;
      const PER = 40;
      const wsPublisher = async (name: string, n: TestServer) => {
        const c = await open(n);
        for (let i = 0; i < PER && !stop; i++) {
          for (;;) {
            const t0 = Date.now();
            c.send({ op: 'pub', topic: 'orders', data: { p: name, i }, key: `${name}-${i}`, id: `${i}` });
            const reply = await c.next(TIMEOUT * 3).catch((err: unknown) => {
              throw new Error(`publisher ${name} ${i}: ${String(err)} at ${Date.now() - t0} ms; acked ${acked.size}`);
            });
            if (reply.op === 'ack') break;
            expect(reply).toMatchObject({ op: 'err', code: 'unavailable' });
            failures.push(Date.now() - t0);
            await sleep(100);
          }
          acked.add(`${name}-${i}`);
          await sleep(15);
        }
      };
      const httpPublisher = async (name: string, n: TestServer) => {
        for (let i = 0; i < PER && !stop; i++) {
          for (;;) {
            const t0 = Date.now();
            const res = await fetch(`${n.http}/publish`, {
              method: 'POST',
              headers: { 'content-type': 'application/json', 'idempotency-key': `${name}-${i}` },
              body: JSON.stringify({ topic: 'orders', data: { p: name, i } }),
            });
            await res.text();
            if (res.status === 200) break;
            expect(res.status).toBe(503);
            expect(res.headers.get('retry-after')).toBe('1');
            failures.push(Date.now() - t0);
            await sleep(100);
          }
          acked.add(`${name}-${i}`);
          await sleep(15);
        }
      };
      const running = Promise.all([wsPublisher('wa', a), wsPublisher('wb', b), httpPublisher('ha', a)]);
      await until('a third acked', () => acked.size >= 40);
      const killedAt = Date.now();
      await r.redis.kill();
      const to503 = await until('/healthz 503 on both nodes', async () => (await health(a)) === 503 && (await health(b)) === 503);
      const healthBody = await (await fetch(`${a.http}/healthz`)).json();
      expect(healthBody).toMatchObject({ status: 'unavailable', broker: { broker: 'redis' } });
      expect((await fetch(`${a.http}/livez`)).status).toBe(200);
      await sleep(800);
      await r.redis.restart();
      const restartedAt = Date.now();
      const to200 = await until('/healthz 200 on both nodes', async () => (await health(a)) === 200 && (await health(b)) === 200);
      await running;
      stop = true;
      const total = 3 * PER;
      expect(acked.size).toBe(total);
      const keysOf = (frames: Msg[]) =>
        frames.filter((f) => f.op === 'msg').map((f) => `${(f.data as { p: string }).p}-${(f.data as { i: number }).i}`);
      await until(
        'every acked message at both subscribers',
        () => [seenA, seenB].every((s) => s.frames.filter((f) => f.op === 'msg').length >= total),
        10_000,
      ).catch((err: unknown) => {
        const missing = [seenA, seenB].map((s) => [...acked].filter((k) => !keysOf(s.frames).includes(k)));
        throw new Error(
          `${String(err)}; missing at A: ${missing[0]!.join(' ')}; at B: ${missing[1]!.join(' ')}; frames at A: ${JSON.stringify(seenA.frames.filter((f) => f.op !== 'msg'))}`,
        );
      });
      await sleep(200);
      for (const seen of [seenA, seenB]) {
        const data = seen.frames.filter((f) => f.op === 'msg').map((f) => `${(f.data as { p: string }).p}-${(f.data as { i: number }).i}`);
        expect(new Set(data).size, 'no duplicate').toBe(data.length);
        for (const k of acked) expect(data, `acked ${k} delivered`).toContain(k);
        expectNoSilentJump(seen.frames, 'orders', ackA.epoch as string, 0);
      }
      // the connections stayed open through the outage
      subA.send({ op: 'ping', id: 'alive' });
      await until('the ping answered', () => seenA.frames.some((f) => f.op === 'ack' && f.id === 'alive'), 2000);
      // every failure was answered within the command timeout (plus scheduling slack)
      expect(failures.length).toBeGreaterThan(0);
      expect(Math.max(...failures)).toBeLessThanOrEqual(TIMEOUT + 500);
      expect(to503).toBeLessThan(TIMEOUT + 2 * PROBE + 1000);
      console.log(
        `[outage ${transport}] redis SIGKILL: /healthz 503 after ${to503} ms; down ${restartedAt - killedAt} ms; /healthz 200 ${to200} ms after restart; ${failures.length} failed attempts, slowest ${Math.max(...failures)} ms`,
      );
      seenA.stop();
      seenB.stop();
      const metrics = await (await fetch(`${a.http}/metrics`)).text();
      expect(metrics).toMatch(/ringcast_broker_reconnects_total\{link="subscriber"\} [1-9]/);
      expect(metrics).toMatch(/ringcast_broker_up 1/);
    }, 60_000);
  });

  describe('without persistence, and from an older snapshot', () => {
    const r = redisFixture();

    it('a restart without data: every connected member is back in presence once /healthz is green, not at the next refresh', async () => {
      const p = prefix();
      // --presence-ttl 600: the periodic rewrite comes every 200 s, far past this test
      const a = await node(r.redis.url, p, { presenceTtl: 600 });
      const b = await node(r.redis.url, p, { presenceTtl: 600 });
      const member = await open(a);
      await member.request({ op: 'sub', topic: 'hall', id: 's' });
      const asker = await open(b);
      expect(await asker.request({ op: 'presence', topic: 'hall', id: 'p0' })).toMatchObject({ count: 1 });
      await r.redis.restartEmpty();
      await until('/healthz 200', async () => (await health(a)) === 200 && (await health(b)) === 200);
      // node a rewrites its entries while it catches up, before it reports up
      expect(await asker.request({ op: 'presence', topic: 'hall', id: 'p1' })).toMatchObject({ count: 1 });
    });

    it('a restart without data gives a new epoch: live subscribers get a resync frame first, a returning client recovered:false', async () => {
      const p = prefix();
      const a = await node(r.redis.url, p);
      const b = await node(r.redis.url, p);
      const sub = await open(a);
      const ack = await sub.request({ op: 'sub', topic: 'news', id: 's' });
      const pub = await open(b);
      for (let i = 1; i <= 3; i++) await pub.request({ op: 'pub', topic: 'news', data: i, id: `${i}` });
      for (let i = 1; i <= 3; i++) expect(await sub.next()).toMatchObject({ op: 'msg', seq: i });
      await r.redis.restartEmpty();
      await until('/healthz 200', async () => (await health(a)) === 200 && (await health(b)) === 200);
      const resync = await sub.next(5000);
      expect(resync).toMatchObject({ op: 'resync', topic: 'news', seq: 0 });
      expect(resync.epoch).not.toBe(ack.epoch);
      const after = await pub.request({ op: 'pub', topic: 'news', data: 'new', id: 'n' });
      expect(after).toMatchObject({ op: 'ack', seq: 1 });
      // a loaded machine (the ASan run) once saw the same resync twice: harmless to a client (the
      // same position again), so allowed; a second renewal (another epoch) is not
      let next = await sub.next();
      while (next.op === 'resync') {
        expect(next).toMatchObject({ topic: 'news', seq: 0, epoch: resync.epoch });
        next = await sub.next();
      }
      expect(next).toMatchObject({ op: 'msg', seq: 1, data: 'new' });
      const back = await open(b);
      const reAck = await back.request({ op: 'sub', topic: 'news', since: 3, epoch: ack.epoch, id: 'r' });
      expect(reAck, JSON.stringify([resync, reAck])).toMatchObject({ epoch: resync.epoch, recovered: false });
    }, 30_000);

    it('a restart from an older snapshot gives a new epoch, never the old epoch with a reused seq', async () => {
      const p = prefix();
      const a = await node(r.redis.url, p);
      const sub = await open(a);
      const ack = await sub.request({ op: 'sub', topic: 'ledger', id: 's' });
      for (let i = 1; i <= 2; i++) await sub.request({ op: 'pub', topic: 'ledger', data: i, id: `${i}` }).then(() => sub.next());
      const snapshot = await r.redis.snapshot(); // seq 2 of the epoch
      for (let i = 3; i <= 5; i++) await sub.request({ op: 'pub', topic: 'ledger', data: i, id: `${i}` }).then(() => sub.next());
      await r.redis.restoreSnapshot(snapshot); // Redis is back at seq 2, with the old epoch in its data
      await until('/healthz 200', async () => (await health(a)) === 200);
      const resync = await sub.next(5000);
      expect(resync).toMatchObject({ op: 'resync', topic: 'ledger', seq: 2 });
      expect(resync.epoch).not.toBe(ack.epoch);
      const next = await publishOwn(sub, { op: 'pub', topic: 'ledger', data: 'after', id: 'x' });
      expect(next.ack).toMatchObject({ op: 'ack', seq: 3 });
      expect(next.msg).toMatchObject({ op: 'msg', seq: 3, data: 'after' });
      // a client at seq 5 of the old epoch is told it cannot resume, instead of getting seq 3 of another history
      const other = await open(a);
      const reAck = await other.request({ op: 'sub', topic: 'ledger', since: 5, epoch: ack.epoch, id: 'r' });
      expect(reAck).toMatchObject({ seq: 3, epoch: resync.epoch, recovered: false });
      expect(await other.next()).toMatchObject({ op: 'msg', seq: 3, data: 'after' }); // the replay, from the oldest retained
      const h = await other.request({ op: 'history', topic: 'ledger', since: 0, id: 'h' });
      expect(h).toMatchObject({ epoch: resync.epoch });
      expect((h.messages as { seq: number }[]).map((m) => m.seq)).toEqual([3]);
    }, 30_000);

    it("one node's link cut by a TCP proxy while others publish: /healthz 503 there, then caught up in order, no resync", async () => {
      const { proxy, a, b } = await behindProxy(r.redis.port, r.redis.url);
      const sub = await open(a);
      await sub.request({ op: 'sub', topic: 'feed', id: 's' });
      const pub = await open(b);
      await pub.request({ op: 'pub', topic: 'feed', data: 0, id: '0' });
      expect(await sub.next()).toMatchObject({ seq: 1 });
      proxy.refuse(true);
      proxy.cut();
      const to503 = await until('/healthz 503 on the cut node', async () => (await health(a)) === 503);
      expect(await health(b)).toBe(200);
      // a request on the cut node fails at once, loudly
      const t0 = Date.now();
      expect(await sub.request({ op: 'pub', topic: 'feed', data: 'lost?', id: 'x' })).toMatchObject({ op: 'err', code: 'unavailable' });
      expect(Date.now() - t0).toBeLessThan(TIMEOUT + 500);
      for (let i = 1; i <= 20; i++) await pub.request({ op: 'pub', topic: 'feed', data: i, id: `${i}` });
      proxy.refuse(false);
      const back = await until('/healthz 200 again', async () => (await health(a)) === 200);
      const got: Msg[] = [];
      while (got.length < 20) got.push(await sub.next(5000));
      expect(got.map((m) => [m.op, m.seq])).toEqual(Array.from({ length: 20 }, (_, i) => ['msg', i + 2]));
      await sub.silent(200); // the failed publish was not queued and sent later
      const metrics = await (await fetch(`${a.http}/metrics`)).text();
      expect(metrics).toMatch(/ringcast_broker_catchup_messages_total [1-9]/);
      expect(metrics).toMatch(/ringcast_broker_resyncs_total 0/);
      console.log(`[outage ${transport}] proxy cut: /healthz 503 after ${to503} ms, 200 ${back} ms after the link came back`);
    }, 30_000);

    it('resubscribes hundreds of channels in batches after a cut, and catches every topic up', async () => {
      const { proxy, a, b } = await behindProxy(r.redis.port, r.redis.url);
      const prefix = a.server.config.brokerPrefix;
      const sub = await open(a);
      const TOPICS = 600; // more than one SUBSCRIBE batch (500)
      for (let t = 0; t < TOPICS; t++) sub.send({ op: 'sub', topic: `many-${t}`, id: String(t) });
      for (let t = 0; t < TOPICS; t++) expect(await sub.next()).toMatchObject({ op: 'ack' });
      proxy.refuse(true);
      proxy.cut();
      await until('/healthz 503', async () => (await health(a)) === 503);
      const pub = await open(b);
      for (const t of [0, 499, 500, 599]) await pub.request({ op: 'pub', topic: `many-${t}`, data: t, id: String(t) });
      proxy.refuse(false);
      await until('/healthz 200', async () => (await health(a)) === 200);
      const got = new Set<string>();
      while (got.size < 4) got.add((await sub.next(5000)).topic as string);
      expect([...got].sort()).toEqual(['many-0', 'many-499', 'many-500', 'many-599']);
      const channels = (await r.redis.call('PUBSUB', 'CHANNELS', `${prefix}:{many-*`)) as string[];
      expect(channels.length).toBe(TOPICS);
    }, 30_000);

    it('a link that stays connected but delivers nothing is found by the probe and reconnected; the missed messages follow', async () => {
      const { proxy, a, b } = await behindProxy(r.redis.port, r.redis.url);
      const sub = await open(a);
      await sub.request({ op: 'sub', topic: 'quiet', id: 's' });
      const pub = await open(b);
      proxy.silence('down'); // Redis -> node a: dropped, the TCP connections stay up
      const t0 = Date.now();
      for (let i = 1; i <= 5; i++) await pub.request({ op: 'pub', topic: 'quiet', data: i, id: `${i}` });
      const got: Msg[] = [];
      while (got.length < 5) got.push(await sub.next(TIMEOUT * 3 + PROBE * 4 + 5000));
      const took = Date.now() - t0;
      expect(got.map((m) => m.seq)).toEqual([1, 2, 3, 4, 5]);
      const metrics = await (await fetch(`${a.http}/metrics`)).text();
      // both links went silent: whichever probe fails first (the PUBLISH or its echo) finds it
      expect(metrics).toMatch(/ringcast_broker_stale_links_total\{link="(subscriber|command)"\} [1-9]/);
      console.log(`[outage ${transport}] silent link: messages delivered ${took} ms after they were published`);
    }, 30_000);

    it('a subscription link running late (a backlog) is not a lost message: no repair, no resync, every message in order', async () => {
      const p = prefix();
      const proxy = await CutProxy.start(r.redis.port);
      cleanups.push(() => proxy.close());
      // node a's subscription link gets Redis's bytes 4 probes late; its probe echo still comes
      // back well within --broker-timeout. --history 10: a repair could read back almost nothing
      proxy.lag(/SUBSCRIBE/i, PROBE * 4);
      const a = await node(`redis://127.0.0.1:${proxy.port}`, p, { history: 10, brokerTimeout: 20_000 });
      const b = await node(r.redis.url, p, { history: 10 });
      const sub = await open(a);
      await sub.request({ op: 'sub', topic: 'late', id: 's' });
      const seen = recorder(sub);
      const pub = await open(b);
      // published over several probes, so each probe reads a seq the late link has not brought yet
      for (let i = 1; i <= 120; i++) {
        pub.send({ op: 'pub', topic: 'late', data: i });
        if (i % 10 === 0) await sleep(PROBE / 3);
      }
      await until(
        'all 120 delivered',
        () => seen.frames.filter((f) => f.op === 'msg').length >= 120 || seen.frames.some((f) => f.op === 'resync'),
        30_000,
      );
      seen.stop();
      expect(seen.frames.filter((f) => f.op !== 'msg')).toEqual([]);
      expect(seen.frames.map((f) => f.data)).toEqual(Array.from({ length: 120 }, (_, i) => i + 1));
      const metrics = await (await fetch(`${a.http}/metrics`)).text();
      expect(metrics).toMatch(/^ringcast_broker_catchups_total 0$/m);
    }, 40_000);

    it('a message whose PUBLISH never arrived (lost tail) is found by the periodic check and delivered', async () => {
      const p = prefix();
      const a = await node(r.redis.url, p);
      const sub = await open(a);
      const ack = await sub.request({ op: 'sub', topic: 'tail', id: 's' });
      // a subscription makes no record: the first publish does
      expect((await publishOwn(sub, { op: 'pub', topic: 'tail', data: 'first', id: 'p' })).msg).toMatchObject({ op: 'msg', seq: 1 });
      // what a publish whose channel message was lost leaves in Redis: the seq and the stream entry
      await r.redis.call('HINCRBY', `${p}:{tail}:meta`, 's', 1);
      await r.redis.call('XADD', `${p}:{tail}:stream`, '2-999999', 'd', '"lost"');
      const t0 = Date.now();
      expect(await sub.next(PROBE * 6 + 2000)).toMatchObject({ op: 'msg', topic: 'tail', seq: 2, data: 'lost' });
      const took = Date.now() - t0;
      expect(ack.epoch).toBe(''); // no record yet when it subscribed
      await sub.silent(100);
      console.log(`[outage ${transport}] lost tail message delivered ${took} ms later (probe ${PROBE} ms, seen ahead twice)`);
    }, 30_000);

    it('a node started while Redis is unreachable: /livez 200, /healthz 503, requests fail within the timeout and nothing is queued; healthy once Redis is reachable', async () => {
      const p = prefix();
      const proxy = await CutProxy.start(r.redis.port);
      cleanups.push(() => proxy.close());
      proxy.refuse(true); // before the node starts: it never reaches Redis
      const a = await node(`redis://127.0.0.1:${proxy.port}`, p);
      const b = await node(r.redis.url, p);
      expect((await fetch(`${a.http}/livez`)).status).toBe(200);
      const h = await fetch(`${a.http}/healthz`);
      expect(h.status).toBe(503);
      expect(await h.json()).toMatchObject({
        status: 'unavailable',
        broker: { broker: 'redis', state: expect.stringMatching(/connecting|down/) },
      });
      const watcher = await open(b);
      await watcher.request({ op: 'sub', topic: 'later', id: 's' });
      const c = await open(a);
      for (const req of [
        { op: 'pub', topic: 'later', data: 1, id: 'p' },
        { op: 'sub', topic: 'later', id: 's' },
        { op: 'history', topic: 'later', since: 0, id: 'h' },
        { op: 'presence', topic: 'later', id: 'pr' },
      ]) {
        const t0 = Date.now();
        expect(await c.request(req)).toMatchObject({ op: 'err', id: req.id, code: 'unavailable' });
        expect(Date.now() - t0).toBeLessThan(TIMEOUT + 500);
      }
      const res = await fetch(`${a.http}/publish`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ topic: 'later', data: 2 }),
      });
      expect(res.status).toBe(503);
      expect(res.headers.get('retry-after')).toBe('1');
      expect(await res.json()).toMatchObject({ error: 'unavailable' });
      proxy.refuse(false);
      const took = await until('/healthz 200', async () => (await health(a)) === 200);
      await watcher.silent(300); // neither refused publish was queued and delivered later
      expect(await c.request({ op: 'pub', topic: 'later', data: 3, id: 'p2' })).toMatchObject({ op: 'ack', seq: 1 });
      expect(await watcher.next()).toMatchObject({ op: 'msg', seq: 1, data: 3 });
      console.log(`[outage ${transport}] started without Redis: /healthz 200 ${took} ms after Redis became reachable`);
    }, 30_000);
  });
});

describeWithRedis('a node killed with SIGKILL', () => {
  const r = redisFixture();

  it('its clients leave presence within --presence-ttl', async () => {
    const brokerPrefix = `k${process.pid}`;
    const child = spawn(
      process.execPath,
      [
        CLI,
        '--port',
        '0',
        '--host',
        '127.0.0.1',
        '--broker',
        r.redis.url,
        '--broker-prefix',
        brokerPrefix,
        '--presence-ttl',
        '5',
        '--transport',
        'ws',
        '--log-level',
        'info',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let exited = false;
    child.on('exit', () => (exited = true));
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    try {
      await until('the child node listening', () => /"event":"listening"/.test(out));
      const port = (JSON.parse(out.split('\n').find((l) => l.includes('"event":"listening"'))!) as { port: number }).port;
      const survivor = await startServer('ws', { broker: r.redis.url, brokerPrefix });
      try {
        const there = await Client.open(`ws://127.0.0.1:${port}/ws`);
        await there.request({ op: 'sub', topic: 'hall', id: 's' });
        const here = await Client.open(survivor.url);
        await here.request({ op: 'sub', topic: 'hall', id: 's' });
        expect(await here.request({ op: 'presence', topic: 'hall', id: 'p' })).toMatchObject({ count: 2 });
        child.kill('SIGKILL');
        await until('child gone', () => exited);
        const killedAt = Date.now();
        const gone = await until(
          'presence back to 1',
          async () => (await here.request({ op: 'presence', topic: 'hall', id: 'p' })).count === 1,
          12_000,
        );
        expect(gone).toBeLessThanOrEqual(5000 + 1500);
        console.log(`[outage] node SIGKILL: its client left presence ${Date.now() - killedAt} ms later (--presence-ttl 5 s)`);
        here.close();
        there.close();
      } finally {
        await survivor.close();
      }
    } finally {
      if (!exited) child.kill('SIGKILL');
    }
  }, 30_000);
});
