// ringcast/client in Node against the real server on every transport, through a TCP proxy the
// test controls: cut links, refused reconnects, a silently dead link, a lost ack, token expiry.
import { SignJWT } from 'jose';
import { afterEach, describe, expect, it } from 'vitest';
import { RingcastClient, type StateChange } from '../../server/client/index.js';
import { Client, sleep, until } from '../helpers/client.js';
import { CutProxy } from '../helpers/proxy.js';
import { startServer, transports, type TestServer } from '../helpers/server.js';

const SECRET = 'a-test-secret-of-32-characters!!';

function token(sub: string, seconds: number): Promise<string> {
  return new SignJWT({ sub })
    .setProtectedHeader({ alg: 'HS256' })
    .setExpirationTime(Math.floor(Date.now() / 1000) + seconds)
    .sign(new TextEncoder().encode(SECRET));
}

describe.each(transports)('ringcast/client on the %s transport', (transport) => {
  let srv: TestServer;
  let proxy: CutProxy;
  const clients: RingcastClient[] = [];
  const raws: Client[] = [];

  async function setup(overrides: Parameters<typeof startServer>[1] = {}) {
    srv = await startServer(transport, { history: 1000, ...overrides });
    proxy = await CutProxy.start(srv.port);
  }
  const viaProxy = () => `ws://127.0.0.1:${proxy.port}/ws`;
  function client(options: ConstructorParameters<typeof RingcastClient>[1] = {}, url = viaProxy()) {
    const c = new RingcastClient(url, { minDelay: 20, maxDelay: 200, pingInterval: 0, ...options });
    clients.push(c);
    return c;
  }
  async function direct() {
    const c = await Client.open(srv.url);
    raws.push(c);
    return c;
  }
  function states(c: RingcastClient): StateChange[] {
    const seen: StateChange[] = [];
    c.on('state', (s) => seen.push(s));
    return seen;
  }

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
    for (const c of raws.splice(0)) c.close();
    await proxy?.close();
    await srv?.close();
  });

  it('delivers every message exactly once, in seq order, across two cuts with publishes during the cuts', async () => {
    await setup();
    const c = client();
    const got: { seq: number; n: number }[] = [];
    const recoveries: { recovered: boolean; count: number }[] = [];
    const sub = c.subscribe('feed', (data, { seq }) => got.push({ seq, n: (data as { n: number }).n }), {
      onRecovery: (r) => recoveries.push(r),
    });
    await sub.subscribed;
    const pub = await direct();
    const TOTAL = 300;
    let n = 0;
    const publish = async (upTo: number) => {
      while (n < upTo) {
        pub.send({ op: 'pub', topic: 'feed', data: { n: ++n } });
        if (n % 5 === 0) await sleep(5);
      }
    };
    let duringCuts = 0;
    for (const [cutAt, backAt] of [
      [100, 130],
      [200, 230],
    ] as const) {
      await publish(cutAt - 1);
      const before = recoveries.length;
      proxy.refuse(true);
      proxy.cut();
      await until(() => c.state !== 'connected');
      await publish(backAt - 1); // published while the client has no link
      duringCuts += backAt - cutAt;
      proxy.refuse(false);
      await until(() => recoveries.length > before, 5000);
    }
    await publish(TOTAL);
    await until(() => got.length >= TOTAL, 10_000);
    await sleep(100); // a duplicate would arrive now
    expect(got.map((m) => m.seq)).toEqual(Array.from({ length: TOTAL }, (_, i) => i + 1));
    expect(got.map((m) => m.n)).toEqual(Array.from({ length: TOTAL }, (_, i) => i + 1));
    expect(duringCuts).toBe(60);
    expect(recoveries.length).toBeGreaterThanOrEqual(2);
    expect(recoveries.every((r) => r.recovered)).toBe(true);
    expect(recoveries.reduce((a, r) => a + r.count, 0)).toBeGreaterThan(0);
    expect(proxy.accepted).toBeGreaterThanOrEqual(3);
  });

  it('detects a silently dead link within two ping intervals, reconnects and recovers', async () => {
    await setup();
    const c = client({ pingInterval: 200 });
    const seen = states(c);
    const got: number[] = [];
    await c.subscribe('hb', (_d, { seq }) => got.push(seq)).subscribed;
    const pub = await direct();
    pub.send({ op: 'pub', topic: 'hb', data: 1 });
    await until(() => got.length === 1);
    const silencedAt = Date.now();
    proxy.silence('both');
    pub.send({ op: 'pub', topic: 'hb', data: 2 }); // lost on the dead link, recovered after
    await until(() => seen.some((s) => s.state === 'disconnected' && s.code === 4000), 5000);
    const detectedAfter = Date.now() - silencedAt;
    pub.send({ op: 'pub', topic: 'hb', data: 3 });
    await until(() => got.length === 3, 5000);
    expect(got).toEqual([1, 2, 3]);
    // two intervals plus the timer's own slack: a behaviour bound, not a speed
    expect(detectedAfter).toBeLessThan(2 * 200 + 1000);
  });

  it('re-sends a keyed publish whose ack was lost and the server delivers it once', async () => {
    await setup();
    const c = client({ pingInterval: 200 });
    const watcher = await direct();
    await watcher.request({ op: 'sub', topic: 'k', id: 1 });
    await until(() => c.state === 'connected');
    proxy.silence('down'); // requests reach the server, nothing comes back
    const keyed = c.publish('k', 'once', { key: 'order-17' });
    const unkeyed = c.publish('k', 'maybe');
    const [k, u] = await Promise.allSettled([keyed, unkeyed]);
    expect(k).toEqual({ status: 'fulfilled', value: { seq: 1, subscribers: 0, duplicate: true } });
    expect(u.status).toBe('rejected');
    expect((u as PromiseRejectedResult).reason).toMatchObject({ code: 'outcome_unknown' });
    expect(await watcher.next()).toMatchObject({ op: 'msg', seq: 1, data: 'once' });
    expect(await watcher.next()).toMatchObject({ op: 'msg', seq: 2, data: 'maybe' });
    await watcher.silent(300);
  });

  it('queues a publish while disconnected and rejects it with timeout when no link comes back in time', async () => {
    await setup();
    proxy.refuse(true);
    const c = client();
    await expect(c.publish('q', 1, { timeout: 300 })).rejects.toMatchObject({ code: 'timeout' });
    const later = c.publish('q', 2, { timeout: 5000 });
    await sleep(100);
    proxy.refuse(false);
    await expect(later).resolves.toMatchObject({ seq: 1 });
  });

  it('fetches a new token on 4001 and reconnects at once, losing nothing', async () => {
    await setup({ jwtSecret: SECRET });
    let calls = 0;
    const c = client({ getToken: () => (calls++, token('alice', 2)) });
    const seen = states(c);
    const got: number[] = [];
    await c.subscribe('t', (_d, { seq }) => got.push(seq)).subscribed;
    const pub = await Client.open(`${srv.url}?token=${await token('bob', 60)}`);
    raws.push(pub);
    for (let n = 1; n <= 30; n++) {
      pub.send({ op: 'pub', topic: 't', data: n });
      await sleep(100);
      if (seen.some((s) => s.code === 4001) && n >= 25) break;
    }
    await until(() => seen.some((s) => s.code === 4001), 5000);
    const sent = (await pub.request({ op: 'pub', topic: 't', data: 'last', id: 'x' })).seq as number;
    await until(() => got.length === sent, 5000);
    expect(got).toEqual(Array.from({ length: sent }, (_, i) => i + 1));
    const expired = seen.find((s) => s.code === 4001)!;
    expect(expired).toMatchObject({ state: 'disconnected', delay: 0 });
    expect(calls).toBeGreaterThanOrEqual(2);
  });

  it('stops with token_expired on 4001 when it has no getToken', async () => {
    await setup({ jwtSecret: SECRET });
    // the token must outlive the handshake: on a busy machine one second may not, and the
    // upgrade is then refused (401, another test's case). Longer tokens until one connects.
    for (const seconds of [1, 3, 10]) {
      const c = client({ token: await token('carol', seconds) });
      const errors: unknown[] = [];
      let connected = false;
      c.on('error', (e) => errors.push(e));
      c.on('state', (change: { state: string }) => void (change.state === 'connected' && (connected = true)));
      await until(() => c.state === 'closed', (seconds + 10) * 1000);
      if (!connected) continue;
      expect(errors).toEqual([expect.objectContaining({ code: 'token_expired' })]);
      return;
    }
    throw new Error('no client connected before its token expired, even with 10 s');
  });

  it('stops with refused on a 401 upgrade without getToken, and rejects what waited with it', async () => {
    await setup({ jwtSecret: SECRET });
    const c = client({ token: 'not-a-token' });
    const errors: unknown[] = [];
    c.on('error', (e) => errors.push(e));
    const queued = c.publish('x', 1).catch((e: unknown) => e); // waits for a link that will not come: settled with the reason
    await until(() => c.state === 'closed', 5000);
    expect(errors).toEqual([expect.objectContaining({ code: 'refused', serverCode: 401 })]);
    expect(await queued).toMatchObject({ code: 'refused' });
    expect(() => c.subscribe('y', () => undefined)).toThrow(/closed/);
  });
});
