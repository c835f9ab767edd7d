// The ops page's list of nodes on a real Redis: rows written and read back, a node whose row stops
// changing shown silent after three probe intervals (by the reader's clock), a row nobody
// refreshed for ten minutes deleted, and no answer while Redis is down.
import { afterEach, expect, it } from 'vitest';
import { parseRedisUrl, type RedisTarget } from '../../server/broker/url.js';
import { NodeRegistry } from '../../server/ops/nodes.js';
import type { NodeRow } from '../../server/ops/types.js';
import { describeWithRedis, redisFixture } from '../helpers/redis.js';

const row = (id: string, at: number): NodeRow => ({
  id,
  transport: 'uring',
  connections: 1,
  uptimeSeconds: 1,
  state: 'up',
  broker: { broker: 'redis', state: 'up' },
  workers: [],
  at,
});

const open: NodeRegistry[] = [];
afterEach(async () => {
  for (const r of open.splice(0)) await r.close('never-written');
});

describeWithRedis('the node registry', () => {
  const r = redisFixture();
  const registry = () => {
    const reg = new NodeRegistry(parseRedisUrl(r.redis.url) as RedisTarget, 'test', 1000);
    open.push(reg);
    return reg;
  };
  async function exchange(reg: NodeRegistry, mine: NodeRow, now: number) {
    // the link connects in the background: the first exchange may find it not yet up
    for (let i = 0; i < 100; i++) {
      const got = await reg.exchange(mine, now);
      if (got !== undefined) return got;
      await new Promise((res) => setTimeout(res, 50));
    }
    throw new Error('no exchange with Redis');
  }

  it('shows every node, and one whose row stopped changing as silent after three intervals', async () => {
    const a = registry();
    const b = registry();
    const t = 1_000_000;
    await exchange(b, row('b', t), t);
    let seen = await exchange(a, row('a', t), t);
    expect(seen.map((n) => [n.row.id, n.answering])).toEqual([
      ['a', true],
      ['b', true],
    ]);
    // b writes no more; a goes on reading
    seen = await exchange(a, row('a', t + 3000), t + 3000);
    expect(seen.find((n) => n.row.id === 'b')!.answering).toBe(true);
    seen = await exchange(a, row('a', t + 3500), t + 3500);
    expect(seen.find((n) => n.row.id === 'b')).toMatchObject({ answering: false, silentSeconds: 4 });
    // b writes again: it answers at once
    await exchange(b, row('b', t + 4000), t + 4000);
    seen = await exchange(a, row('a', t + 4500), t + 4500);
    expect(seen.find((n) => n.row.id === 'b')!.answering).toBe(true);
  });

  it('deletes a row nobody refreshed for ten minutes, and says nothing while Redis is down', async () => {
    const a = registry();
    const t = Date.now();
    await exchange(a, row('gone', t - 11 * 60_000), t);
    const seen = await exchange(a, row('here', t), t);
    expect(seen.map((n) => n.row.id)).toEqual(['here']);
    await expect.poll(async () => (await r.redis.call('HKEYS', 'test:ops:nodes')) as string[]).toEqual(['here']);
    await r.redis.kill();
    expect(await a.exchange(row('here', t + 1000), t + 1000)).toBeUndefined();
    await r.redis.restart();
  });
});
