// CutProxy between a client and Redis, as the broker's link tests use it: a paused link holds
// the RESP stream and hands it over intact on resume; a cut one resets every connection.
import { afterEach, describe, expect, it } from 'vitest';
import { CutProxy } from '../helpers/proxy.js';
import { until } from '../helpers/client.js';
import { redisFixture } from '../helpers/redis.js';

const settle = <T>(p: Promise<T>, ms: number) =>
  Promise.race([p.then((v) => ({ v })), new Promise<'pending'>((r) => setTimeout(() => r('pending'), ms))]);

describe('CutProxy on a Redis link', () => {
  const r = redisFixture();
  let proxy: CutProxy | undefined;
  afterEach(async () => {
    await proxy?.close();
    proxy = undefined;
  });

  it('holds a command while paused and answers it, in order, after resume()', async () => {
    proxy = await CutProxy.start(r.redis.port);
    const c = r.redis.client({ port: proxy.port });
    await c.set('k', 'before');
    proxy.pause();
    const pending = Promise.all([c.set('k', 'during'), c.get('k')]);
    expect(await settle(pending, 200)).toBe('pending');
    proxy.resume();
    expect(await pending).toEqual(['OK', 'during']);
  });

  it('keeps new connections silent while paused', async () => {
    proxy = await CutProxy.start(r.redis.port);
    proxy.pause();
    const c = r.redis.client({ port: proxy.port });
    const ping = c.ping();
    expect(await settle(ping, 200)).toBe('pending');
    proxy.resume();
    expect(await ping).toBe('PONG');
  });

  it('resets every current connection on cut(), and the client reconnects through it', async () => {
    proxy = await CutProxy.start(r.redis.port);
    const c = r.redis.client({ port: proxy.port, retryStrategy: () => 10 });
    await c.ping();
    const closed = new Promise((res) => c.once('close', res));
    proxy.cut();
    await closed;
    expect(await c.ping()).toBe('PONG');
    expect(proxy.accepted).toBe(2);
  });

  it('lags only the connection that sent the pattern, keeping its bytes in order', async () => {
    proxy = await CutProxy.start(r.redis.port);
    proxy.lag(/SUBSCRIBE/i, 1000);
    const sub = r.redis.client({ port: proxy.port });
    const cmd = r.redis.client({ port: proxy.port });
    const got: { m: string; at: number }[] = [];
    sub.on('message', (_ch: string, m: string) => got.push({ m, at: Date.now() }));
    await sub.subscribe('lagged');
    const start = Date.now();
    for (let i = 0; i < 5; i++) await cmd.publish('lagged', String(i));
    // the command link is not lagged: its five replies came before the first message
    expect(got).toEqual([]);
    await until(() => got.length === 5, 20_000);
    expect(got.map((g) => g.m)).toEqual(['0', '1', '2', '3', '4']);
    // never early (timers may fire a millisecond ahead)
    for (const g of got) expect(g.at - start).toBeGreaterThanOrEqual(990);
  });
});
