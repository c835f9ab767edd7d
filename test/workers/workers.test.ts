// --workers 2, on the built CLI, on both transports: one server from outside. The acceptor hands
// connections to the worker with the fewest, so two clients opened one after the other are on
// different workers (each test checks it through presence ids, which name the worker's hub).
import { readdirSync, readFileSync } from 'node:fs';
import { constants, inflateRawSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { RingcastClient } from '../../server/client/index.js';
import { Client, sleep, until, type Msg } from '../helpers/client.js';
import { startCli, type Running } from '../helpers/cli.js';
import { clientFrame, RawClient, type Frame } from '../helpers/raw.js';
import { transports } from '../helpers/server.js';

interface Cluster {
  r: Running;
  url: string;
  http: string;
}

const clients: Client[] = [];
afterEach(() => {
  for (const c of clients.splice(0)) c.close();
});

async function cluster(transport: string, args: string[] = [], env: Record<string, string> = {}): Promise<Cluster> {
  const r = startCli(['--port', '0', '--workers', '2', '--transport', transport, '--log-level', 'info', ...args], env);
  const line = (await r.listening) as { port: number };
  return { r, url: `ws://127.0.0.1:${line.port}/ws`, http: `http://127.0.0.1:${line.port}` };
}

async function open(c: Cluster, query = ''): Promise<Client> {
  const client = await Client.open(c.url + query);
  clients.push(client);
  return client;
}

/** The hub (worker) a presence client id belongs to: `c<boot id>-<serial>`. */
const hubOf = (client: unknown) => String(client).split('-')[0];

/** Subscribes both with presence; returns their presence ids (a's from the list, b's from its join seen by a). */
async function ids(topic: string, a: Client, b: Client): Promise<[string, string]> {
  expect(await a.request({ op: 'sub', topic, presence: true, id: 1 })).toMatchObject({ op: 'ack' });
  expect(await b.request({ op: 'sub', topic, presence: true, id: 2 })).toMatchObject({ op: 'ack' });
  a.send({ op: 'presence', topic, id: 3 });
  let list: Msg | undefined;
  let joined: Msg | undefined; // b's join, seen by a across workers (before or after the list)
  while (list === undefined || joined === undefined) {
    const m = await a.next();
    if (m.op === 'ack' && m.id === 3) list = m;
    else if (m.op === 'join') joined = m;
  }
  const all = (list.clients as { client: string }[]).map((x) => x.client);
  const bId = joined.client as string;
  expect(all).toContain(bId);
  const aId = all.find((x) => x !== bId)!;
  return [aId, bId];
}

async function metric(c: Cluster, name: string): Promise<number> {
  const text = await (await fetch(`${c.http}/metrics`, { headers: { connection: 'close' } })).text();
  let sum = 0;
  for (const line of text.split('\n')) if (line.startsWith(name + ' ') || line.startsWith(name + '{')) sum += Number(line.split(' ').pop());
  return sum;
}

/** TCP connections per worker (ringcast_worker_connections), this request's included. */
async function perWorker(c: Cluster): Promise<number[]> {
  const text = await (await fetch(`${c.http}/metrics`, { headers: { connection: 'close' } })).text();
  return [...text.matchAll(/^ringcast_worker_connections\{worker="(\d)"\} (\d+)$/gm)].map((m) => Number(m[2]));
}

async function collect(c: Client, n: number, ms = 5000): Promise<Msg[]> {
  const out: Msg[] = [];
  while (out.length < n) {
    const m = await c.next(ms);
    if (m.op === 'msg') out.push(m);
  }
  return out;
}

describe.each(transports)('--workers 2 on the %s transport', (transport) => {
  it('delivers a publish on one worker to the subscribers on every worker, in one order', async () => {
    const c = await cluster(transport);
    const subs = [await open(c), await open(c), await open(c), await open(c)];
    const [x, y] = await ids('room', subs[0]!, subs[1]!);
    expect(hubOf(x)).not.toBe(hubOf(y)); // two workers
    for (const s of subs.slice(2)) expect(await s.request({ op: 'sub', topic: 'room', id: 9 })).toMatchObject({ op: 'ack' });
    // four publishers (two per worker) and HTTP, all at once
    const pubs = [await open(c), await open(c), await open(c), await open(c)];
    const N = 100;
    for (let i = 0; i < N; i++) for (const [p, pub] of pubs.entries()) pub.send({ op: 'pub', topic: 'room', data: { p, i } });
    await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        fetch(`${c.http}/publish`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ topic: 'room', data: { h: i } }),
        }),
      ),
    );
    const total = N * pubs.length + 20;
    const seen = await Promise.all(subs.map((s) => collect(s, total)));
    const order = seen[0]!.map((m) => JSON.stringify(m.data));
    expect(seen[0]!.map((m) => m.seq)).toEqual(Array.from({ length: total }, (_, i) => i + 1));
    for (const s of seen.slice(1)) expect(s.map((m) => JSON.stringify(m.data))).toEqual(order);
    // per publisher, its own order is kept
    for (let p = 0; p < pubs.length; p++) {
      const mine = seen[0]!.filter((m) => (m.data as { p?: number }).p === p).map((m) => (m.data as { i: number }).i);
      expect(mine).toEqual(Array.from({ length: N }, (_, i) => i));
    }
  });

  it('acks with the receivers on every worker, and echo:false skips only the publisher', async () => {
    const c = await cluster(transport);
    const a = await open(c);
    const b = await open(c);
    const [x, y] = await ids('t', a, b);
    expect(hubOf(x)).not.toBe(hubOf(y));
    expect(await a.request({ op: 'pub', topic: 't', data: 1, id: 5 })).toMatchObject({ op: 'msg', seq: 1 });
    expect(await a.next()).toMatchObject({ op: 'ack', id: 5, seq: 1, subscribers: 2 });
    expect(await b.next()).toMatchObject({ op: 'msg', seq: 1 });
    a.send({ op: 'pub', topic: 't', data: 2, id: 6, echo: false });
    expect(await a.next()).toMatchObject({ op: 'ack', id: 6, seq: 2, subscribers: 1 });
    expect(await b.next()).toMatchObject({ op: 'msg', seq: 2, data: 2 });
    await a.silent(100);
    const res = await fetch(`${c.http}/publish`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"topic":"t","data":3}',
    });
    expect(await res.json()).toEqual({ seq: 3, subscribers: 2 });
  });

  it('answers history, recovery and idempotency the same on every worker', async () => {
    const c = await cluster(transport);
    const a = await open(c);
    const b = await open(c);
    const [x, y] = await ids('h', a, b);
    expect(hubOf(x)).not.toBe(hubOf(y));
    for (let i = 1; i <= 5; i++) a.send({ op: 'pub', topic: 'h', data: i, key: `k${i}` });
    await collect(b, 5);
    // the same key on the other worker: a duplicate, nothing delivered
    expect(await b.request({ op: 'pub', topic: 'h', data: 9, key: 'k3', id: 7 })).toMatchObject({ op: 'ack', seq: 3, duplicate: true });
    for (const cl of [a, b]) {
      cl.send({ op: 'history', topic: 'h', since: 2, id: 8 });
      let ack: Msg;
      do ack = await cl.next();
      while (ack.op !== 'ack');
      expect((ack.messages as { seq: number }[]).map((m) => m.seq)).toEqual([3, 4, 5]);
    }
    // a client that left after seq 2 comes back on whichever worker and misses nothing
    const epoch = (await a.request({ op: 'sub', topic: 'h', id: 10 })).epoch as string;
    const back = await open(c);
    back.send({ op: 'sub', topic: 'h', since: 2, epoch, id: 11 });
    expect(await back.next()).toMatchObject({ op: 'ack', id: 11, recovered: true });
    expect((await collect(back, 3)).map((m) => m.seq)).toEqual([3, 4, 5]);
  });

  it('shows presence across workers: list, join and leave', async () => {
    const c = await cluster(transport);
    const a = await open(c);
    const b = await open(c);
    const [x, y] = await ids('p', a, b);
    expect(hubOf(x)).not.toBe(hubOf(y));
    const list = await b.request({ op: 'presence', topic: 'p', id: 4 });
    expect(list).toMatchObject({ op: 'ack', count: 2 });
    b.close();
    expect(await a.next()).toMatchObject({ op: 'leave', topic: 'p', client: y });
    const after = await a.request({ op: 'presence', topic: 'p', id: 5 });
    expect(after).toMatchObject({ count: 1, clients: [{ client: x }] });
  });

  it('spreads connections evenly and counts them in /metrics and /healthz', async () => {
    const c = await cluster(transport);
    const many: Client[] = [];
    for (let i = 0; i < 200; i++) many.push(await open(c));
    // /metrics counts its own connection too
    const per = await perWorker(c);
    expect(per[0]! + per[1]!).toBe(201);
    expect(Math.abs(per[0]! - per[1]!)).toBeLessThanOrEqual(1);
    expect(await metric(c, 'ringcast_connections')).toBe(200);
    expect(await metric(c, 'ringcast_workers')).toBe(2);
    // a quarter of the clients leave, all from worker 0 (every other one landed there): the
    // next ones go to worker 0 until it is even again
    for (let i = 0; i < 200; i += 4) many[i]!.close();
    const deadline = Date.now() + 3000;
    while ((await metric(c, 'ringcast_connections')) !== 150 && Date.now() < deadline) await sleep(20);
    const before = await perWorker(c);
    expect(before[0]! + before[1]!).toBe(151);
    expect(before[1]! - before[0]!).toBeGreaterThanOrEqual(49);
    for (let i = 0; i < 50; i++) await open(c);
    const after = await perWorker(c);
    expect(after[0]! + after[1]!).toBe(201);
    expect(Math.abs(after[0]! - after[1]!)).toBeLessThanOrEqual(1);
    const health = (await (await fetch(`${c.http}/healthz`)).json()) as Record<string, unknown>;
    expect(health).toEqual({ status: 'ok', workers: { configured: 2, running: 2, restarts: 0 } });
  });

  it('adds every worker into /metrics whichever worker answers', async () => {
    const c = await cluster(transport);
    const a = await open(c);
    const b = await open(c);
    await ids('m', a, b);
    for (let i = 0; i < 10; i++) a.send({ op: 'pub', topic: 'm', data: i });
    await collect(b, 10);
    await collect(a, 10);
    for (let i = 0; i < 4; i++) {
      // each request is its own connection: they land on both workers
      expect(await metric(c, 'ringcast_deliveries_total')).toBe(20);
      expect(await metric(c, 'ringcast_publishes_total')).toBe(10);
    }
    const text = await (await fetch(`${c.http}/metrics`)).text();
    expect(text.match(/^process_cpu_seconds_total /m)).not.toBeNull(); // the process's own series, once
    expect(text.match(/^# TYPE process_cpu_seconds_total/gm)).toHaveLength(1);
  });

  it('holds --max-connections over the whole server', async () => {
    const c = await cluster(transport, ['--max-connections', '3']);
    await open(c);
    await open(c);
    await open(c);
    await expect(Client.open(c.url)).rejects.toThrow('HTTP 503');
    clients[0]!.close();
    const deadline = Date.now() + 3000;
    while ((await metric(c, 'ringcast_connections')) !== 2 && Date.now() < deadline) await sleep(20);
    await open(c); // a slot came free on one worker: any worker may take it
    await expect(Client.open(c.url)).rejects.toThrow('HTTP 503');
  });

  it('drains every worker on SIGTERM: 1001 to each client, exit 0', async () => {
    const c = await cluster(transport);
    const a = await open(c);
    const b = await open(c);
    await ids('d', a, b);
    const start = Date.now();
    c.r.child.kill('SIGTERM');
    const [ca, cb] = await Promise.all([a.closed, b.closed]);
    expect(ca.code).toBe(1001);
    expect(cb.code).toBe(1001);
    expect(await c.r.exited).toBe(0);
    expect(Date.now() - start).toBeLessThan(15_000);
    const workersStopped = c.r.lines.filter((l) => l.event === 'stopped').map((l) => l.worker);
    expect(workersStopped.sort()).toEqual([0, 1, 'main'].sort());
  });

  it('bounds what waits for a worker whose event loop stalls; it reads the rest back and misses nothing', async () => {
    // 16 x --max-outbound = 4 MiB may wait for one worker; 300 x 16 KiB are published while it
    // stalls, for 10 s: publishing them took over 2 s under AddressSanitizer
    const c = await cluster(transport, ['--max-outbound', String(256 * 1024)], { RINGCAST_FAULT_INJECTION: 'stall:10000' });
    const a = await open(c); // worker 0
    const b = await open(c); // worker 1: it will stall
    const pub = await open(c); // worker 0
    for (const s of [a, b]) expect(await s.request({ op: 'sub', topic: 'big', id: 1 })).toMatchObject({ op: 'ack' });
    c.r.child.kill('SIGUSR2');
    await sleep(100);
    const data = JSON.stringify('x'.repeat(16 * 1024));
    const N = 304;
    // in steps of 8, each acked before the next: within the publisher's own in-flight bounds
    for (let i = 1; i <= N; i += 8) {
      for (let j = i; j < i + 8; j++) pub.send(`{"op":"pub","topic":"big","data":${data},"id":${j}}`);
      for (let j = i; j < i + 8; j++) expect(await pub.next(5000)).toMatchObject({ op: 'ack', id: j });
    }
    const seqs = async (s: Client) => (await collect(s, N, 30_000)).map((m) => m.seq);
    const all = Array.from({ length: N }, (_, i) => i + 1);
    expect(await seqs(a)).toEqual(all);
    expect(await seqs(b)).toEqual(all); // in order, once: what was skipped was read back
    expect(c.r.lines.find((l) => l.event === 'worker_lagging')).toMatchObject({ worker: 1 });
    expect(c.r.lines.find((l) => l.event === 'worker_caught_up')).toMatchObject({ worker: 1 });
    expect(await metric(c, 'ringcast_worker_queue_overflows_total')).toBeGreaterThan(0);
    const lagging = c.r.lines.find((l) => l.event === 'worker_lagging') as { queuedBytes: number };
    expect(lagging.queuedBytes).toBeLessThanOrEqual(4 * 1024 * 1024);
  }, 20_000);

  it('replaces a worker that dies of a JavaScript error while the other serves on', async () => {
    const c = await cluster(transport, [], { RINGCAST_FAULT_INJECTION: '1' });
    const a = await open(c); // worker 0
    const b = await open(c); // worker 1
    const [x, y] = await ids('c', a, b);
    expect(hubOf(x)).not.toBe(hubOf(y));
    const publisher = await open(c); // worker 0 again (a tie goes to the first)
    const died = Date.now();
    c.r.child.kill('SIGUSR2');
    const closed = await a.closed;
    expect(closed.code).toBe(1006); // its thread is gone: the connection just ends
    expect(Date.now() - died).toBeLessThan(15_000);
    // the other worker kept its client and its subscription
    const fresh = await open(c);
    expect(await fresh.request({ op: 'pub', topic: 'c', data: 'after', id: 1 })).toMatchObject({ op: 'ack' });
    // a's leave comes once the main thread saw the worker exit: before or after the new message
    const got = [await b.next(), await b.next()].sort((m, n) => m.op.localeCompare(n.op));
    expect(got).toMatchObject([
      { op: 'leave', client: x },
      { op: 'msg', data: 'after' },
    ]);
    await until(() => c.r.lines.some((l) => l.event === 'worker_exit'), 2000);
    const health = async () => (await (await fetch(`${c.http}/healthz`)).json()) as { workers: { running: number; restarts: number } };
    const deadline = Date.now() + 3000;
    while ((await health()).workers.running !== 2 && Date.now() < deadline) await sleep(50);
    expect((await health()).workers).toEqual({ configured: 2, running: 2, restarts: 1 });
    expect(await metric(c, 'ringcast_worker_restarts_total')).toBe(1);
    const err = c.r.lines.find((l) => l.event === 'worker_error');
    expect(err).toMatchObject({ worker: 0 });
    expect(String(err?.err)).toContain('fault injected into worker 0');
    void publisher;
  });
});

describe.each(transports)('the client SDK on --workers 2 on the %s transport', (transport) => {
  it('loses nothing when its worker dies under traffic: every message once, in order, recovered', async () => {
    const c = await cluster(transport, [], { RINGCAST_FAULT_INJECTION: '1' });
    // worker 0 gets the SDK client, worker 1 the publisher (the acceptor alternates)
    const client = new RingcastClient(c.url, { minDelay: 20, maxDelay: 200, pingInterval: 0 });
    const got: number[] = [];
    const recoveries: { recovered: boolean }[] = [];
    try {
      const sub = client.subscribe('ticker', (data) => got.push(data as number), { onRecovery: (x) => recoveries.push(x) });
      await sub.subscribed;
      const pub = await open(c);
      let sent = 0;
      const publish = async (upTo: number, pauseMs = 0) => {
        while (sent < upTo) {
          expect(await pub.request({ op: 'pub', topic: 'ticker', data: ++sent, id: String(sent) })).toMatchObject({ op: 'ack' });
          if (pauseMs > 0) await sleep(pauseMs);
        }
      };
      await publish(50);
      await until(() => got.length === 50, 5000);
      const publishing = publish(150, 2); // still publishing while worker 0 dies and is replaced
      c.r.child.kill('SIGUSR2');
      await publishing;
      await until(() => recoveries.length > 0 && got.length >= 150, 8000);
      await sleep(100);
      expect(got).toEqual(Array.from({ length: 150 }, (_, i) => i + 1));
      expect(recoveries[0]).toMatchObject({ recovered: true });
      expect(c.r.lines.some((l) => l.event === 'worker_exit' && l.worker === 0)).toBe(true);
    } finally {
      await client.close();
    }
  }, 20_000);
});

describe.each(transports)('--workers 2 with permessage-deflate on the %s transport', (transport) => {
  const raws: RawClient[] = [];
  afterEach(() => {
    for (const r of raws.splice(0)) r.destroy();
  });
  const OFFER = 'Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n';
  const dataFrame = async (r: RawClient): Promise<Frame> => {
    for (;;) {
      const f = await r.nextFrame();
      if (f.opcode === 0x1) return f;
    }
  };

  it('compresses a publish once for every worker: both workers send the same compressed frame', async () => {
    const c = await cluster(transport);
    const port = Number(new URL(c.http).port);
    const connect = async (headers: string) => {
      const r = await RawClient.handshake(port, '/ws?topics=room', headers);
      raws.push(r);
      return r;
    };
    // alternate workers: a (w0, deflate), b (w1, deflate), plain (w0), pub (w1)
    const [a, b, plain, pub] = [await connect(OFFER), await connect(OFFER), await connect(''), await connect('')];
    await sleep(100); // ?topics= subscriptions are made once the broker followed the topic
    const words = Array.from({ length: 3000 }, (_, i) => `"word${i % 50}"`).join(',');
    pub.write(clientFrame(0x1, `{"op":"pub","topic":"room","data":[${words}]}`));
    const [fa, fb, fp] = [await dataFrame(a), await dataFrame(b), await dataFrame(plain)];
    expect(fa.rsv1).toBe(true);
    expect(fb.rsv1).toBe(true);
    expect(fa.payload.equals(fb.payload)).toBe(true);
    expect(fp.rsv1).toBe(false);
    expect(fa.payload.length).toBeLessThan(0.3 * fp.payload.length);
    const inflated = inflateRawSync(Buffer.concat([fa.payload, Buffer.from([0, 0, 0xff, 0xff])]), { finishFlush: constants.Z_SYNC_FLUSH });
    expect(inflated.toString()).toBe(fp.payload.toString());
  });
});

describe.runIf(transports.includes('uring'))('--workers 2 with --sqpoll', () => {
  it('runs both rings on one kernel SQ thread and delivers across workers', async () => {
    const c = await cluster('uring', ['--sqpoll', '20']);
    const pid = c.r.child.pid!;
    const sqThreads = () =>
      readdirSync(`/proc/${pid}/task`).filter((t) => {
        try {
          return readFileSync(`/proc/${pid}/task/${t}/comm`, 'utf8').startsWith('iou-sqp');
        } catch {
          return false;
        }
      }).length;
    expect(sqThreads()).toBe(1);
    const listening = c.r.lines.find((l) => l.event === 'listening') as { features: { ring: string } };
    expect(listening.features.ring).toContain('sqpoll');
    expect(c.r.lines.some((l) => l.event === 'sqpoll_refused')).toBe(false);
    const a = await open(c);
    const b = await open(c);
    const [x, y] = await ids('s', a, b);
    expect(hubOf(x)).not.toBe(hubOf(y));
    await sleep(100); // past the SQ thread's idle time: the next submission must wake it
    a.send({ op: 'pub', topic: 's', data: 'woken' });
    expect((await collect(b, 1))[0]).toMatchObject({ data: 'woken' });
    expect((await collect(a, 1))[0]).toMatchObject({ data: 'woken' });
  });
});

describe('--workers 2 that cannot start', () => {
  it('exits 1 with a clear line when the port is taken (its workers do not keep it alive)', async () => {
    const first = startCli(['--port', '0', '--transport', 'ws']);
    const { port } = (await first.listening) as { port: number };
    const second = startCli(['--port', String(port), '--workers', '2', '--transport', 'ws']);
    const start = Date.now();
    expect(await second.exited).toBe(1);
    expect(Date.now() - start).toBeLessThan(15_000);
    expect(second.lines.find((l) => l.event === 'listen_failed')).toMatchObject({ code: 'EADDRINUSE' });
  });

  it('exits 1 with one line saying why when the native addon (which hands sockets over) is missing', async () => {
    const r = startCli(['--port', '0', '--workers', '2', '--transport', 'ws'], { RINGCAST_ADDON: '/nonexistent/ringcast.node' });
    expect(await r.exited).toBe(1);
    const fatal = r.lines.find((l) => l.event === 'transport_unavailable');
    expect(String(fatal?.reason)).toContain('--workers 2 needs the native addon');
    expect(r.lines.some((l) => l.event === 'listening')).toBe(false);
  });

  it('exits 1 naming the worker and its error when a worker dies while starting', async () => {
    const r = startCli(['--port', '0', '--workers', '2', '--transport', 'ws'], { RINGCAST_FAULT_INJECTION: 'start' });
    const start = Date.now();
    expect(await r.exited).toBe(1);
    expect(Date.now() - start).toBeLessThan(15_000);
    expect(r.lines.some((l) => l.event === 'listening')).toBe(false);
    const fatal = r.lines.find((l) => l.event === 'listen_failed');
    expect(String(fatal?.err)).toContain('worker 1 exited while starting');
    expect(String(fatal?.err)).toContain('fault injected into worker 1 at start');
  });
});
