// The Redis the broker tests stand on: its restarts must lose or keep data exactly as a real
// deployment's would, or an outage test proves nothing.
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { RedisServer, redisFixture, describeWithRedis } from '../helpers/redis.js';

describeWithRedis('RedisServer', () => {
  const r = redisFixture();

  it('keeps data across a restart after save(), with a new run id', async () => {
    const { redis } = r;
    await redis.call('SET', 'k', 'saved');
    await redis.save();
    const before = await redis.runId();
    await redis.restart();
    expect(await redis.call('GET', 'k')).toBe('saved');
    expect(await redis.runId()).not.toBe(before);
  });

  it('loses what was not saved when killed', async () => {
    const { redis } = r;
    await redis.call('SET', 'k', 'saved');
    await redis.save();
    await redis.call('SET', 'k', 'unsaved');
    await redis.kill();
    expect(redis.running).toBe(false);
    await redis.restart();
    expect(await redis.call('GET', 'k')).toBe('saved');
  });

  it('loses everything on restartEmpty()', async () => {
    const { redis } = r;
    await redis.call('SET', 'k', 'v');
    await redis.save();
    await redis.restartEmpty();
    expect(await redis.call('GET', 'k')).toBeNull();
  });

  it('brings back the older value with restoreSnapshot(), on the same port', async () => {
    const { redis } = r;
    const port = redis.port;
    await redis.call('SET', 'k', 'old');
    const older = await redis.snapshot();
    await redis.call('SET', 'k', 'new');
    await redis.save();
    await redis.restoreSnapshot(older);
    expect(redis.port).toBe(port);
    expect(await redis.call('GET', 'k')).toBe('old');
  });

  it('counts commands and CPU, and resets the counts', async () => {
    const { redis } = r;
    await redis.resetStats();
    for (let i = 0; i < 5; i++) await redis.call('PUBLISH', 'ch', 'x');
    const stats = await redis.commandStats();
    expect(stats.publish).toMatchObject({ calls: 5 });
    expect(stats.publish.usec).toBeGreaterThanOrEqual(0);
    expect(await redis.cpuSeconds()).toBeGreaterThan(0);
  });

  it('hands out clients that reconnect after a restart', async () => {
    const { redis } = r;
    const c = redis.client();
    await c.set('k', 'v');
    await redis.save();
    await redis.restart();
    expect(await c.get('k')).toBe('v');
  });

  it('stops gracefully with stop(), and close() leaves no process and no dir', async () => {
    const own = await RedisServer.start();
    const pid = own.pid!;
    await own.stop();
    expect(own.running).toBe(false);
    await own.restart();
    const restartedPid = own.pid!;
    await own.close();
    expect(existsSync(own.dir)).toBe(false);
    for (const p of [pid, restartedPid]) expect(() => process.kill(p, 0)).toThrow();
  });
});
