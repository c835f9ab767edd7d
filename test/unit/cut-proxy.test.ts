// CutProxy between a client and Redis, as the broker's link tests use it: a paused link holds
// the RESP stream and hands it over intact on resume; a cut one resets every connection.
import { afterEach, describe, expect, it } from 'vitest';
import { CutProxy } from '../helpers/proxy.js';
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
});
