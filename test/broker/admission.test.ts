// A connection's allowance of requests waiting for the broker (256 requests, --max-outbound
// bytes) is given back on every path. The reliability review found it leaked whenever the hub
// refused a request at once (the broker down, the node's publish backlog full): after an outage
// the same connection got rate_limited for every pub, history and presence until it reconnected,
// while /healthz was green. Each test causes the outage for real and then asks the same connection.
import { afterEach, expect, it } from 'vitest';
import { Client, type Msg } from '../helpers/client.js';
import { describeWithRedis, redisFixture } from '../helpers/redis.js';
import { startServer, transports, type TestServer } from '../helpers/server.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(what: string, check: () => Promise<boolean> | boolean, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await sleep(25);
  }
}

const health = async (n: TestServer) => (await fetch(`${n.http}/healthz`)).status;

/** The value of one unlabelled series of /metrics. */
async function metric(n: TestServer, name: string): Promise<number> {
  const text = await (await fetch(`${n.http}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  if (line === undefined) throw new Error(`${name} is not in /metrics`);
  return Number(line.split(' ')[1]);
}

/** Every answer (ack or err) the client gets, by request id. */
function answers(c: Client): Map<string, Msg> {
  const byId = new Map<string, Msg>();
  c.ws.on('message', (data: Buffer) => {
    const m = JSON.parse(data.toString()) as Msg;
    if ((m.op === 'ack' || m.op === 'err') && typeof m.id === 'string') byId.set(m.id, m);
  });
  return byId;
}

let prefixes = 0;

describeWithRedis.each(transports)('in-flight allowance across outages, %s transport', (transport) => {
  const r = redisFixture();
  const nodes: TestServer[] = [];
  const clients: Client[] = [];

  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    await Promise.all(nodes.splice(0).map((n) => n.close()));
    if (!r.redis.running) await r.redis.restart();
  });

  async function node(maxOutbound = 8 * 1024 * 1024): Promise<TestServer> {
    const n = await startServer(transport, {
      broker: r.redis.url,
      brokerPrefix: `adm${process.pid}-${transport}-${++prefixes}`,
      brokerTimeout: 1000,
      brokerProbe: 300,
      maxOutbound,
    });
    nodes.push(n);
    return n;
  }

  async function open(n: TestServer): Promise<Client> {
    const c = await Client.open(n.url);
    clients.push(c);
    return c;
  }

  it('300 pubs, 20 history and 20 presence refused while Redis is down leave the same connection served once it is back', async () => {
    const n = await node();
    const c = await open(n);
    const got = answers(c);
    await r.redis.kill();
    await until('/healthz 503', async () => (await health(n)) === 503);

    const data = 'x'.repeat(1024);
    for (let i = 0; i < 300; i++) c.send({ op: 'pub', topic: 'room', data, id: `p${i}` });
    for (let i = 0; i < 20; i++) c.send({ op: 'history', topic: 'room', since: 0, id: `h${i}` });
    for (let i = 0; i < 20; i++) c.send({ op: 'presence', topic: 'room', id: `q${i}` });
    await until('340 answers', () => got.size === 340);
    const codes = new Set([...got.values()].map((m) => m.code));
    expect(codes).toEqual(new Set(['unavailable']));
    // the client is told the broker is unavailable, never where it lives
    for (const m of got.values()) expect(String(m.msg)).not.toMatch(/127\.0\.0\.1|ECONNREFUSED|:\d{4,5}\b/);

    await r.redis.restart();
    await until('/healthz 200', async () => (await health(n)) === 200);
    got.clear();
    c.send({ op: 'pub', topic: 'room', data: 'after', id: 'pub' });
    c.send({ op: 'history', topic: 'room', since: 0, id: 'hist' });
    c.send({ op: 'presence', topic: 'room', id: 'pres' });
    await until('three answers', () => got.size === 3);
    expect(got.get('pub')).toMatchObject({ op: 'ack', seq: 1 });
    expect(got.get('hist')).toMatchObject({ op: 'ack', seq: 1 });
    expect(got.get('pres')).toMatchObject({ op: 'ack', count: 0 });
    expect(await metric(n, 'ringcast_broker_requests_in_flight')).toBe(0);
    expect(await metric(n, 'ringcast_broker_request_bytes_in_flight')).toBe(0);
  });

  it('pubs refused because the node backlog is full (Redis paused) leave every connection served after', async () => {
    // --max-outbound 64 KiB: one connection may hold one 60 KB publish; the node 16 x 64 KiB
    const n = await node(64 * 1024);
    const publishers = await Promise.all(Array.from({ length: 24 }, () => open(n)));
    const got = publishers.map(answers);
    const pid = r.redis.pid!;
    const data = 'y'.repeat(60_000);
    process.kill(pid, 'SIGSTOP');
    try {
      publishers.forEach((p, i) => p.send({ op: 'pub', topic: `t${i}`, data, id: 'first' }));
      // the node's backlog takes at most 17 of them; the rest are refused at once
      await until('refusals', () => got.filter((g) => g.get('first')?.code === 'unavailable').length >= 7);
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    await until('every first publish answered', () => got.every((g) => g.has('first')));
    await until('nothing waiting for the broker', async () => (await metric(n, 'ringcast_broker_requests_in_flight')) === 0);
    await until('/healthz 200', async () => (await health(n)) === 200);

    publishers.forEach((p, i) => p.send({ op: 'pub', topic: `t${i}`, data, id: 'second' }));
    await until('every second publish answered', () => got.every((g) => g.has('second')));
    for (const g of got) expect(g.get('second')).toMatchObject({ op: 'ack' });
    expect(await metric(n, 'ringcast_broker_request_bytes_in_flight')).toBe(0);
  });

  it('an idle connection holds nothing in flight after requests answered by a closed connection', async () => {
    const n = await node();
    const c = await open(n);
    const pid = r.redis.pid!;
    process.kill(pid, 'SIGSTOP');
    try {
      for (let i = 0; i < 50; i++) c.send({ op: 'pub', topic: 'gone', data: i, id: `p${i}` });
      for (let i = 0; i < 10; i++) c.send({ op: 'history', topic: 'gone', since: 0, id: `h${i}` });
      await until('requests waiting', async () => (await metric(n, 'ringcast_broker_requests_in_flight')) > 0);
      c.close(); // the answers now have nobody to go to
      await c.closed;
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    await until('nothing waiting for the broker', async () => (await metric(n, 'ringcast_broker_requests_in_flight')) === 0);
    expect(await metric(n, 'ringcast_broker_request_bytes_in_flight')).toBe(0);
  });
});
