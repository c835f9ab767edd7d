// One contract, two shared brokers: the in-process MemoryBroker (--workers) and the RedisBroker
// against a real redis-server must give the same answers to the same calls. Where they differ by
// nature (the epoch's format, delivery being synchronous or off a channel) only the contract is
// asserted: an epoch is a non-empty string, and delivery is awaited.
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryBroker } from '../../server/broker/memory.js';
import { RedisBroker } from '../../server/broker/redis.js';
import type { BrokerEvents, SharedBroker } from '../../server/broker/types.js';
import { parseRedisUrl, type RedisTarget } from '../../server/broker/url.js';
import { Metrics } from '../../server/metrics.js';
import { sleep, until } from '../helpers/client.js';
import { describeWithRedis, redisFixture } from '../helpers/redis.js';

/** The options both brokers take, ms. */
interface Options {
  history: number;
  historyTtlMs: number;
  idempotencyTtlMs: number;
  presenceTtlMs: number;
}

const OPTIONS: Options = { history: 100, historyTtlMs: 60_000, idempotencyTtlMs: 60_000, presenceTtlMs: 60_000 };

interface Delivered {
  topic: string;
  seq: number;
  epoch: string;
  data: string;
  origin: number;
}

interface Started {
  broker: SharedBroker;
  got: Delivered[];
}

type Make = (options: Options, events: BrokerEvents) => Promise<SharedBroker>;

const bytes = (text: string) => Buffer.from(text);
const seqs = (messages: readonly { seq: number }[]) => messages.map((m) => m.seq);
const texts = (messages: readonly { data: Buffer }[]) => messages.map((m) => m.data.toString());

function contract(make: Make): void {
  const stops: (() => Promise<void>)[] = [];
  let n = 0;

  afterEach(async () => {
    for (const stop of stops.splice(0)) await stop();
  });

  async function start(options: Partial<Options> = {}): Promise<Started> {
    const got: Delivered[] = [];
    const events: BrokerEvents = {
      publication: (topic, seq, epoch, data, origin) => {
        got.push({ topic, seq, epoch, data: data.toString(), origin });
        return 1; // this node's one receiver (an in-process broker answers with it)
      },
      presence: () => undefined,
      restored: async () => undefined,
      top: () => undefined,
      missed: () => undefined,
      followed: () => [],
    };
    const broker = await make({ ...OPTIONS, ...options }, events);
    stops.push(() => broker.stop());
    return { broker, got };
  }

  /** A topic name no other test of this file (or an earlier run on the same Redis) uses. */
  const topic = (name: string) => `${name}-${process.pid}-${++n}`;

  it('is ready once started, and names itself in health()', async () => {
    const { broker } = await start();
    expect(broker.ready).toBe(true);
    expect(broker.health()).toEqual({ broker: broker.name, state: 'up' });
  });

  it('numbers a topic 1..N in order under one epoch', async () => {
    const { broker } = await start();
    const t = topic('numbers');
    const published = [];
    for (let i = 0; i < 10; i++) published.push(await broker.publish(t, bytes(`m${i}`), -1, undefined));
    expect(published.map((p) => p.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(published.every((p) => !p.duplicate)).toBe(true);
    expect(new Set(published.map((p) => p.epoch)).size).toBe(1);
    expect(published[0]!.epoch).toMatch(/./);
    const state = await broker.read(t, 'newest', 100, false, 1 << 20);
    expect(state).toMatchObject({ seq: 10, epoch: published[0]!.epoch, oldest: 1, base: 0, previous: null });
    expect(texts(state.messages)).toEqual(published.map((_, i) => `m${i}`));
  });

  it('delivers through events.publication only the topics followed, in seq order, with the origin', async () => {
    const { broker, got } = await start();
    const [followed, other] = [topic('followed'), topic('other')];
    await broker.follow(followed);
    const first = await broker.publish(followed, bytes('a'), 7, undefined);
    expect(first.nodes).toBe(1);
    expect((await broker.publish(other, bytes('x'), 7, undefined)).nodes).toBe(0);
    await broker.publish(followed, bytes('b'), -1, undefined);
    await until(() => got.length >= 2);
    expect(got).toEqual([
      { topic: followed, seq: 1, epoch: first.epoch, data: 'a', origin: 7 },
      { topic: followed, seq: 2, epoch: first.epoch, data: 'b', origin: -1 },
    ]);
  });

  it('reads the newest messages within a count and a byte budget, cutting the oldest end, at least one', async () => {
    const { broker } = await start();
    const t = topic('newest');
    for (let i = 1; i <= 5; i++) await broker.publish(t, bytes(String(i).repeat(10)), -1, undefined);
    expect(seqs((await broker.read(t, 'newest', 3, false, 1000)).messages)).toEqual([3, 4, 5]);
    expect(seqs((await broker.read(t, 'newest', 10, false, 25)).messages)).toEqual([4, 5]);
    expect(seqs((await broker.read(t, 'newest', 10, false, 30)).messages)).toEqual([3, 4, 5]);
    expect(seqs((await broker.read(t, 'newest', 10, false, 5)).messages)).toEqual([5]);
  });

  it('reads after a seq within a count and a byte budget, cutting the newest end, at least one', async () => {
    const { broker } = await start();
    const t = topic('after');
    for (let i = 1; i <= 5; i++) await broker.publish(t, bytes(String(i).repeat(10)), -1, undefined);
    const state = await broker.read(t, 1, 3, false, 1000);
    expect(state).toMatchObject({ seq: 5, oldest: 1, base: 0, previous: null });
    expect(seqs(state.messages)).toEqual([2, 3, 4]);
    expect(texts(state.messages)[0]).toBe('2'.repeat(10));
    expect(seqs((await broker.read(t, 1, 10, false, 25)).messages)).toEqual([2, 3]);
    expect(seqs((await broker.read(t, 0, 10, false, 1)).messages)).toEqual([1]);
    expect((await broker.read(t, 5, 10, false, 1000)).messages).toEqual([]);
  });

  it('reads no messages when asked for none, from a topic that retains some', async () => {
    // the hub asks for --history messages: 0 after a restart with --history 0 over an old stream
    const { broker } = await start();
    const t = topic('count0');
    for (let i = 1; i <= 3; i++) await broker.publish(t, bytes(`m${i}`), -1, undefined);
    expect(await broker.read(t, 'newest', 0, false, 1000)).toMatchObject({ seq: 3, oldest: 1, messages: [] });
    expect(await broker.read(t, 1, 0, true, 1000)).toMatchObject({ seq: 3, oldest: 1, messages: [] });
  });

  it('keeps the last --history messages', async () => {
    const { broker } = await start({ history: 3 });
    const t = topic('history');
    for (let i = 1; i <= 5; i++) await broker.publish(t, bytes(`m${i}`), -1, undefined);
    const state = await broker.read(t, 0, 10, false, 1000);
    expect(state).toMatchObject({ seq: 5, oldest: 3 });
    expect(texts(state.messages)).toEqual(['m3', 'm4', 'm5']);
  });

  it('with --history 0 retains nothing but still numbers and delivers', async () => {
    const { broker, got } = await start({ history: 0 });
    const t = topic('nohistory');
    await broker.follow(t);
    await broker.publish(t, bytes('a'), -1, undefined);
    expect((await broker.publish(t, bytes('b'), -1, undefined)).seq).toBe(2);
    await until(() => got.length >= 2);
    expect(seqs(got)).toEqual([1, 2]);
    expect(await broker.read(t, 'newest', 10, false, 1000)).toMatchObject({ seq: 2, oldest: 0, messages: [] });
    expect(await broker.read(t, 0, 10, false, 1000)).toMatchObject({ seq: 2, oldest: 0, messages: [] });
  });

  it('reads a missing topic as epoch null without creating it; the first publish makes it', async () => {
    const { broker } = await start();
    const t = topic('missing');
    const missing = { seq: 0, epoch: null, oldest: 0, base: 0, previous: null, messages: [] };
    expect(await broker.read(t, 'newest', 10, false, 1000)).toEqual(missing);
    expect(await broker.read(t, 0, 10, false, 1000)).toEqual(missing); // the first read made nothing
    const first = await broker.publish(t, bytes('a'), -1, undefined);
    expect(first).toMatchObject({ seq: 1 });
    expect(first.epoch).toMatch(/./);
    expect(await broker.read(t, 'newest', 10, false, 1000)).toMatchObject({ seq: 1, epoch: first.epoch, base: 0, previous: null });
  });

  it('answers a repeated idempotency key with the first seq and delivers nothing', async () => {
    const { broker, got } = await start({ idempotencyTtlMs: 300 });
    const t = topic('keys');
    await broker.follow(t);
    const first = await broker.publish(t, bytes('a'), -1, 'k');
    expect(await broker.publish(t, bytes('a'), -1, 'k')).toEqual({ seq: 1, epoch: first.epoch, duplicate: true, nodes: 0 });
    expect((await broker.publish(t, bytes('b'), -1, 'other')).seq).toBe(2);
    expect((await broker.publish(topic('keys'), bytes('a'), -1, 'k')).duplicate).toBe(false); // keys are per topic
    await until(() => got.length >= 2);
    await sleep(50);
    expect(seqs(got)).toEqual([1, 2]);
    await sleep(400);
    expect(await broker.publish(t, bytes('a'), -1, 'k')).toMatchObject({ seq: 3, duplicate: false });
  });

  it('lists presence after join and leave, counting all and listing up to the limit', async () => {
    const { broker } = await start();
    const t = topic('presence');
    const [alice, bob] = [
      { client: 'c1', user: 'alice' },
      { client: 'c2', user: 'bob' },
    ];
    broker.presence(t, 'join', [alice, bob]);
    const both = await broker.presenceList(t, 10);
    expect(both.count).toBe(2);
    expect([...both.clients].sort((x, y) => x.client.localeCompare(y.client))).toEqual([alice, bob]);
    const one = await broker.presenceList(t, 1);
    expect(one.count).toBe(2);
    expect(one.clients).toHaveLength(1);
    expect(await broker.presenceList(t, 0)).toEqual({ count: 2, clients: [] });
    broker.presence(t, 'leave', [alice]);
    expect(await broker.presenceList(t, 10)).toEqual({ count: 1, clients: [bob] });
    broker.presence(t, 'leave', [bob]);
    expect(await broker.presenceList(t, 10)).toEqual({ count: 0, clients: [] });
  });

  it('expires presence entries not refreshed within --presence-ttl', async () => {
    const { broker } = await start({ presenceTtlMs: 300 });
    const t = topic('expiry');
    const [alice, bob] = [
      { client: 'c1', user: 'alice' },
      { client: 'c2', user: 'bob' },
    ];
    broker.presence(t, 'join', [alice, bob]);
    await sleep(200);
    broker.presence(t, 'refresh', [bob]);
    await sleep(200);
    expect(await broker.presenceList(t, 10)).toEqual({ count: 1, clients: [bob] });
    await sleep(200);
    expect(await broker.presenceList(t, 10)).toEqual({ count: 0, clients: [] });
  });

  it('refuses requests once stopped', async () => {
    const { broker } = await start();
    await broker.stop();
    expect(broker.ready).toBe(false);
    expect(broker.health().state).toBe('stopped');
    // a throw (an in-process broker answers in the call) or a rejection
    await expect(async () => broker.publish(topic('stopped'), bytes('a'), -1, undefined)).rejects.toThrow(/the broker is stopped/);
  });
}

describe('shared broker contract: MemoryBroker', () => {
  contract(async (o, events) => {
    const broker = new MemoryBroker({ ...o, maxTopics: 1000, maxHistoryBytes: 1 << 20, maxIdempotencyKeys: 1000 });
    await broker.start(events);
    return broker;
  });
});

describeWithRedis('shared broker contract: RedisBroker', () => {
  const r = redisFixture();
  let prefix = 0;
  contract(async (o, events) => {
    const broker = new RedisBroker(
      {
        target: parseRedisUrl(r.redis.url) as RedisTarget,
        prefix: `contract${process.pid}-${++prefix}`,
        timeoutMs: 2000,
        probeMs: 0,
        maxTopics: 100_000,
        maxHistoryBytes: 256 * 1024 * 1024,
        ...o,
      },
      new Metrics('ws'),
      pino({ level: 'silent' }),
    );
    await broker.start(events);
    return broker;
  });
});
