// The in-process shared broker (server/broker/memory.ts) on its own: numbering, delivery, reads,
// idempotency, presence, and every bound it keeps. The same contract against Redis is in
// test/broker/shared-contract.test.ts.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryBroker, type MemoryBrokerOptions } from '../../server/broker/memory.js';
import { PresenceTable } from '../../server/broker/memory-presence.js';
import { BrokerTopicLimitError, BrokerUnavailableError, type BrokerEvents } from '../../server/broker/types.js';
import { configWith } from '../../server/config.js';
import { encodeMsg, jsonAscii } from '../../server/protocol/encode.js';
import { sleep, until } from '../helpers/client.js';

interface Delivered {
  topic: string;
  seq: number;
  epoch: string;
  data: Buffer;
  origin: number;
}

/**
 * What the broker holds of message `seq` of `topic` with `size` bytes of data, as --max-history-bytes
 * counts it: its frame (no compressed twin without permessage-deflate).
 */
const held = (topic: string, seq: number, size: number) => encodeMsg(jsonAscii(topic), seq, Buffer.alloc(size)).frame.length;

const OPTIONS: MemoryBrokerOptions = {
  history: 100,
  historyTtlMs: 60_000,
  maxTopics: 1000,
  maxHistoryBytes: 1024 * 1024,
  idempotencyTtlMs: 60_000,
  maxIdempotencyKeys: 1000,
  presenceTtlMs: 60_000,
};

const started: MemoryBroker[] = [];
/** events the broker must never send: it only calls message */
let unexpected: string[] = [];

afterEach(async () => {
  for (const b of started.splice(0)) await b.stop();
  expect(unexpected).toEqual([]);
  unexpected = [];
});

async function start(options: Partial<MemoryBrokerOptions> = {}): Promise<{ broker: MemoryBroker; got: Delivered[] }> {
  const broker = new MemoryBroker({ ...OPTIONS, ...options });
  const got: Delivered[] = [];
  const events: BrokerEvents = {
    publication: (topic, seq, epoch, data, origin) => {
      got.push({ topic, seq, epoch, data, origin });
      return 1; // one receiver here
    },
    presence: () => void unexpected.push('presence'),
    restored: async () => void unexpected.push('restored'),
    top: () => void unexpected.push('top'),
    missed: () => void unexpected.push('missed'),
    followed: () => {
      unexpected.push('followed');
      return [];
    },
  };
  await broker.start(events);
  started.push(broker);
  return { broker, got };
}

const bytes = (n: number, fill = 0x61) => Buffer.alloc(n, fill);

/** Events that record nothing (a test that looks only at the broker), with `more` on top. */
const quietEvents = (more: Partial<BrokerEvents> = {}): BrokerEvents => ({
  publication: () => 0,
  presence: () => undefined,
  restored: async () => undefined,
  top: () => undefined,
  missed: () => undefined,
  followed: () => [],
  ...more,
});
const seqs = (messages: readonly { seq: number }[]) => messages.map((m) => m.seq);

describe('MemoryBroker: lifecycle', () => {
  it('is up between start() and stop(), and refuses requests after stop()', async () => {
    const broker = new MemoryBroker(OPTIONS);
    expect(broker.name).toBe('memory');
    expect(broker.ready).toBe(false);
    // it answers in the call: a refusal is a throw, not a rejection
    expect(() => broker.publish('t', bytes(1), -1, undefined)).toThrow(BrokerUnavailableError);
    const { broker: up } = await start();
    expect(up.ready).toBe(true);
    expect(up.health()).toEqual({ broker: 'memory', state: 'up' });
    await up.stop();
    expect(up.ready).toBe(false);
    expect(up.health()).toEqual({ broker: 'memory', state: 'stopped' });
    expect(() => up.publish('t', bytes(1), -1, undefined)).toThrow(/the broker is stopped/);
    expect(() => up.read('t', 'newest', 10, true, 1000)).toThrow(BrokerUnavailableError);
    expect(() => up.presenceList('t', 10)).toThrow(BrokerUnavailableError);
    up.presence('t', 'join', [{ client: 'c', user: 'u' }]); // ignored, not thrown
  });

  it('takes its bounds from the config, TTLs in seconds', async () => {
    const broker = MemoryBroker.fromConfig(configWith({ history: 2, maxTopics: 1 }));
    await broker.start(quietEvents());
    started.push(broker);
    for (let i = 0; i < 3; i++) await broker.publish('a', bytes(1), -1, undefined);
    expect(seqs((await broker.read('a', 0, 10, false, 1000)).messages)).toEqual([2, 3]);
    await broker.publish('b', bytes(1), -1, undefined);
    expect(broker.topicCount).toBe(1);
  });
});

describe('MemoryBroker: publish', () => {
  it('numbers a topic 1..N under one epoch, each topic its own epoch', async () => {
    const { broker } = await start();
    const a = [];
    for (let i = 0; i < 5; i++) a.push(await broker.publish('a', bytes(1), -1, undefined));
    expect(a.map((p) => p.seq)).toEqual([1, 2, 3, 4, 5]);
    expect(new Set(a.map((p) => p.epoch)).size).toBe(1);
    const b = await broker.publish('b', bytes(1), -1, undefined);
    expect(b.seq).toBe(1);
    expect(b.epoch).not.toBe(a[0]!.epoch);
    const other = await start();
    expect((await other.broker.publish('a', bytes(1), -1, undefined)).epoch).not.toBe(a[0]!.epoch);
  });

  it('delivers to followed topics only, before publish() returns, with the origin; answers with the receivers counted', async () => {
    const { broker, got } = await start();
    await broker.follow('f');
    const followed = broker.publish('f', bytes(3), 7, undefined);
    expect(got.map((d) => [d.topic, d.seq, d.origin])).toEqual([['f', 1, 7]]); // already, synchronously
    // a value, not a promise; nodes: what events.publication said it reached (this test's hub: 1)
    expect(followed).toMatchObject({ seq: 1, duplicate: false, nodes: 1 });
    expect(await broker.publish('u', bytes(3), 7, undefined)).toMatchObject({ seq: 1, nodes: 0 });
    broker.unfollow('f');
    expect(await broker.publish('f', bytes(3), 7, undefined)).toMatchObject({ seq: 2, nodes: 0 });
    expect(got.map((d) => d.topic)).toEqual(['f']);
    expect(got[0]!.epoch).toBe((await broker.read('f', 'newest', 1, false, 1000)).epoch);
  });

  it('keeps per-topic order under 1000 publishes interleaved over 10 topics', async () => {
    const { broker, got } = await start();
    const topics = Array.from({ length: 10 }, (_, i) => `t${i}`);
    for (const t of topics) await broker.follow(t);
    const calls: string[] = [];
    const pending = [];
    for (let i = 0; i < 1000; i++) {
      const t = topics[(i * 7 + (i >> 3)) % 10]!;
      calls.push(t);
      pending.push(broker.publish(t, Buffer.from(String(i)), -1, undefined));
    }
    await Promise.all(pending);
    expect(got.map((d) => d.topic)).toEqual(calls);
    expect(got.map((d) => Number(d.data.toString()))).toEqual(calls.map((_, i) => i));
    for (const t of topics) {
      const mine = got.filter((d) => d.topic === t).map((d) => d.seq);
      expect(mine).toEqual(Array.from({ length: mine.length }, (_, i) => i + 1));
    }
  });

  it('copies the data: changing the caller buffer afterwards changes nothing stored or delivered', async () => {
    const { broker, got } = await start();
    await broker.follow('t');
    const backing = Buffer.alloc(100, 0x41);
    const view = backing.subarray(10, 20);
    await broker.publish('t', view, -1, undefined);
    backing.fill(0x5a);
    expect(got[0]!.data.toString()).toBe('A'.repeat(10));
    expect((await broker.read('t', 'newest', 1, false, 1000)).messages[0]!.data.toString()).toBe('A'.repeat(10));
  });

  it('keeps a 64-byte message in 64 bytes, not in the 8 KiB pool it came from', async () => {
    const { broker, got } = await start();
    await broker.follow('t');
    const pooled = Buffer.from('x'.repeat(64));
    expect(pooled.buffer.byteLength).toBeGreaterThan(64); // a slice of Node's pool
    await broker.publish('t', pooled, -1, undefined);
    // a view into the message's frame, a buffer of its own: the data and the msg envelope around it
    const frameBytes = Buffer.byteLength('{"op":"msg","topic":"t","seq":1,"data":}') + 64 + 2;
    expect(got[0]!.data.buffer.byteLength).toBe(frameBytes);
    const stored = (await broker.read('t', 'newest', 1, false, 1000)).messages[0]!.data;
    expect(stored.buffer.byteLength).toBe(frameBytes);
    expect(stored.toString()).toBe('x'.repeat(64));
    expect(broker.historyBytes).toBe(held('t', 1, 64));
  });
});

describe('MemoryBroker: read', () => {
  async function fiveOf10Bytes(options: Partial<MemoryBrokerOptions> = {}) {
    const { broker } = await start(options);
    for (let i = 1; i <= 5; i++) await broker.publish('t', bytes(10, 0x30 + i), -1, undefined);
    return broker;
  }

  it('gives the newest `count`, cutting the oldest end to the byte budget, at least one', async () => {
    const broker = await fiveOf10Bytes();
    expect(seqs((await broker.read('t', 'newest', 3, false, 1000)).messages)).toEqual([3, 4, 5]);
    expect(seqs((await broker.read('t', 'newest', 10, false, 25)).messages)).toEqual([4, 5]);
    expect(seqs((await broker.read('t', 'newest', 10, false, 30)).messages)).toEqual([3, 4, 5]);
    expect(seqs((await broker.read('t', 'newest', 10, false, 5)).messages)).toEqual([5]);
    expect((await broker.read('t', 'newest', 0, false, 1000)).messages).toEqual([]);
  });

  it('gives up to `count` after a seq, cutting the newest end to the byte budget, at least one', async () => {
    const broker = await fiveOf10Bytes();
    const state = await broker.read('t', 1, 3, false, 1000);
    expect(state).toMatchObject({ seq: 5, oldest: 1, base: 0, previous: null });
    expect(seqs(state.messages)).toEqual([2, 3, 4]);
    expect(state.messages[0]!.data.toString()).toBe('2'.repeat(10));
    expect(seqs((await broker.read('t', 1, 10, false, 25)).messages)).toEqual([2, 3]);
    expect(seqs((await broker.read('t', 0, 10, false, 1)).messages)).toEqual([1]);
    expect((await broker.read('t', 5, 10, false, 1000)).messages).toEqual([]);
    expect((await broker.read('t', 9, 10, false, 1000)).messages).toEqual([]);
  });

  it('keeps the last --history messages; a read from before them starts at the oldest', async () => {
    const broker = await fiveOf10Bytes({ history: 3 });
    const state = await broker.read('t', 0, 10, false, 1000);
    expect(state.oldest).toBe(3);
    expect(seqs(state.messages)).toEqual([3, 4, 5]);
    expect(broker.historyBytes).toBe(3 * held('t', 3, 10));
  });

  it('with --history 0 retains nothing but still numbers and delivers', async () => {
    const { broker, got } = await start({ history: 0 });
    await broker.follow('t');
    await broker.publish('t', bytes(10), -1, undefined);
    expect((await broker.publish('t', bytes(10), -1, undefined)).seq).toBe(2);
    expect(seqs(got)).toEqual([1, 2]);
    expect(await broker.read('t', 'newest', 10, false, 1000)).toMatchObject({ seq: 2, oldest: 0, messages: [] });
    expect(broker.historyBytes).toBe(0);
  });

  it('never creates a topic unless asked; following does not create one either', async () => {
    const { broker } = await start();
    await broker.follow('t');
    expect(await broker.read('t', 'newest', 10, false, 1000)).toEqual({
      seq: 0,
      epoch: null,
      oldest: 0,
      base: 0,
      previous: null,
      messages: [],
    });
    expect(broker.topicCount).toBe(0);
    const made = await broker.read('t', 'newest', 10, true, 1000);
    expect(made).toMatchObject({ seq: 0, oldest: 0, messages: [] });
    expect(made.epoch).toEqual(expect.any(String));
    expect(broker.topicCount).toBe(1);
    expect(await broker.publish('t', bytes(1), -1, undefined)).toMatchObject({ seq: 1, epoch: made.epoch });
  });
});

describe('MemoryBroker: idempotency keys', () => {
  it('answers a repeated key with the first seq and delivers nothing, per topic', async () => {
    const { broker, got } = await start();
    await broker.follow('t');
    const first = await broker.publish('t', bytes(1), -1, 'k');
    expect(await broker.publish('t', bytes(1), -1, 'k')).toEqual({ seq: 1, epoch: first.epoch, duplicate: true, nodes: 0 });
    expect((await broker.publish('t', bytes(1), -1, 'other')).seq).toBe(2);
    expect((await broker.publish('u', bytes(1), -1, 'k')).duplicate).toBe(false);
    expect(seqs(got)).toEqual([1, 2]);
  });

  it('forgets a key after --idempotency-ttl, and ignores keys when it is 0', async () => {
    const { broker } = await start({ idempotencyTtlMs: 50 });
    await broker.publish('t', bytes(1), -1, 'k');
    expect((await broker.publish('t', bytes(1), -1, 'k')).duplicate).toBe(true);
    await sleep(80);
    expect(await broker.publish('t', bytes(1), -1, 'k')).toMatchObject({ seq: 2, duplicate: false });
    const off = await start({ idempotencyTtlMs: 0 });
    await off.broker.publish('t', bytes(1), -1, 'k');
    expect(await off.broker.publish('t', bytes(1), -1, 'k')).toMatchObject({ seq: 2, duplicate: false });
  });
});

describe('MemoryBroker: idempotency keys of dropped topics', () => {
  it('forgets the keys of a topic it drops: a repeat then publishes again, under the new epoch', async () => {
    const { broker } = await start({ maxTopics: 1 });
    const first = await broker.publish('a', bytes(1), -1, 'k');
    await broker.publish('b', bytes(1), -1, undefined); // a is dropped to make room
    const again = await broker.publish('a', bytes(1), -1, 'k');
    expect(again).toMatchObject({ seq: 1, duplicate: false });
    expect(again.epoch).not.toBe(first.epoch);
  });
});

describe('MemoryBroker: --max-topics', () => {
  it('makes room by dropping the least recently active topic nobody follows', async () => {
    const { broker } = await start({ maxTopics: 3 });
    for (const t of ['a', 'b', 'c']) await broker.publish(t, bytes(1), -1, undefined);
    await broker.publish('a', bytes(1), -1, undefined); // a is now the most recent: b goes first
    await broker.publish('d', bytes(1), -1, undefined);
    expect(broker.topicCount).toBe(3);
    expect((await broker.read('b', 'newest', 1, false, 1000)).epoch).toBeNull();
    expect((await broker.read('a', 'newest', 1, false, 1000)).seq).toBe(2);
  });

  it('refuses a new topic when every topic is followed, and takes it once one is not', async () => {
    const { broker } = await start({ maxTopics: 2 });
    for (const t of ['a', 'b']) {
      await broker.follow(t);
      await broker.publish(t, bytes(1), -1, undefined);
    }
    const refused = () => broker.publish('c', bytes(1), -1, undefined);
    expect(refused).toThrow(BrokerTopicLimitError);
    expect(refused).toThrow(BrokerUnavailableError);
    expect(refused).toThrow('cannot publish to c: 2 topics exist, all with subscribers');
    expect(() => broker.read('c', 'newest', 1, true, 1000)).toThrow(BrokerTopicLimitError);
    expect((await broker.read('c', 'newest', 1, false, 1000)).epoch).toBeNull(); // a plain read still answers
    broker.unfollow('a');
    expect((await broker.publish('c', bytes(1), -1, undefined)).seq).toBe(1);
    expect((await broker.read('a', 'newest', 1, false, 1000)).epoch).toBeNull();
    expect((await broker.read('b', 'newest', 1, false, 1000)).seq).toBe(1);
  });

  it('stays at the bound under 100,000 topics published once each', async () => {
    const { broker } = await start({ maxTopics: 1000, history: 10 });
    const payload = bytes(64);
    for (let i = 0; i < 100_000; i++) await broker.publish(`t${i}`, payload, -1, undefined);
    expect(broker.topicCount).toBe(1000);
    expect(broker.historyBytes).toBe(1000 * held('t99999', 1, 64)); // t99000..t99999: one name length
    expect((await broker.read('t99999', 'newest', 1, false, 1000)).seq).toBe(1);
    expect((await broker.read('t0', 'newest', 1, false, 1000)).epoch).toBeNull();
  });
});

describe('MemoryBroker: --max-history-bytes', () => {
  // topic names of one length and one-digit seqs: every message's frame is F bytes
  const F = held('f0', 1, 10);

  it('drops topics nobody follows first, least recently active first', async () => {
    const { broker } = await start({ maxHistoryBytes: 10 * F });
    await broker.follow('f0');
    for (let i = 0; i < 4; i++) await broker.publish('f0', bytes(10), -1, undefined);
    for (let i = 0; i < 3; i++) await broker.publish('u1', bytes(10), -1, undefined);
    for (let i = 0; i < 3; i++) await broker.publish('u2', bytes(10), -1, undefined);
    expect(broker.historyBytes).toBe(10 * F);
    await broker.publish('f0', bytes(10), -1, undefined);
    expect(broker.historyBytes).toBe(8 * F);
    expect((await broker.read('u1', 'newest', 10, false, 1000)).epoch).toBeNull();
    expect(seqs((await broker.read('u2', 'newest', 10, false, 1000)).messages)).toEqual([1, 2, 3]);
    expect(seqs((await broker.read('f0', 'newest', 10, false, 1000)).messages)).toEqual([1, 2, 3, 4, 5]);
  });

  it('then drops the oldest retained messages of the followed topics, oldest first over all', async () => {
    const f = held('a', 1, 10);
    const { broker } = await start({ maxHistoryBytes: 5 * f });
    await broker.follow('a');
    await broker.follow('b');
    for (const t of ['a', 'b', 'a', 'b', 'a']) await broker.publish(t, bytes(10), -1, undefined);
    await broker.publish('b', bytes(10), -1, undefined); // 6 frames: a's first message goes
    expect(broker.historyBytes).toBe(5 * f);
    // a frame of 2f + 1 bytes: 7f + 1, so b1, a2 and b2 go, in publish order
    await broker.publish('b', bytes(10 + f + 1), -1, undefined);
    expect(held('b', 4, 10 + f + 1)).toBe(2 * f + 1);
    expect(broker.historyBytes).toBe(4 * f + 1);
    const a = await broker.read('a', 0, 10, false, 1000);
    expect(a).toMatchObject({ seq: 3, oldest: 3 });
    expect(seqs((await broker.read('b', 0, 10, false, 1000)).messages)).toEqual([3, 4]);
    expect(broker.topicCount).toBe(2); // their seqs and epochs stay
  });

  it('stays bounded under 100,000 topics with a byte bound below what they would retain', async () => {
    const { broker } = await start({ maxTopics: 100_000, maxHistoryBytes: 10_000, history: 10 });
    for (let i = 0; i < 100_000; i++) await broker.publish(`t${i}`, bytes(64), -1, undefined);
    expect(broker.historyBytes).toBeLessThanOrEqual(10_000);
    expect(broker.topicCount).toBeLessThanOrEqual(Math.ceil(10_000 / 64) + 1);
  });
});

describe('MemoryBroker: what it drops is released', () => {
  it('references nothing of a dropped topic or an evicted message once it is gone', async () => {
    // room for ten of these messages' frames (1,040-1,050 bytes each), not eleven
    const { broker, got } = await start({ maxHistoryBytes: 11_000 });
    await broker.follow('busy');
    const gone = new Set<string>();
    const registry = new FinalizationRegistry((name: string) => gone.add(name));
    // the stored copies are the broker's own: watch them through what a read returns
    const watch = async (topic: string, seq: number) =>
      registry.register((await broker.read(topic, seq - 1, 1, false, 1 << 20)).messages[0]!.data, `${topic}:${seq}`);
    for (let i = 1; i <= 20; i++) {
      await broker.publish(`t${i}`, bytes(1000), -1, undefined);
      if (broker.topicCount > 0 && i > 10) await watch(`t${i}`, 1);
    }
    for (let s = 1; s <= 20; s++) {
      await broker.publish('busy', bytes(1000), -1, undefined);
      await watch('busy', s);
    }
    expect(broker.historyBytes).toBe(Array.from({ length: 10 }, (_, i) => held('busy', i + 11, 1000)).reduce((a, b) => a + b));
    got.splice(0); // what was delivered is the subscriber's to keep, not the broker's
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    for (let i = 0; i < 3; i++) {
      gc();
      await new Promise((resolve) => setImmediate(resolve));
    }
    const expected = [...Array.from({ length: 10 }, (_, i) => `t${i + 11}:1`), ...Array.from({ length: 10 }, (_, i) => `busy:${i + 1}`)];
    expect([...gone].sort()).toEqual(expected.sort());
  });
});

describe('MemoryBroker: --history-ttl', () => {
  it('drops a topic nobody follows after it was idle that long, never a followed one', async () => {
    const { broker } = await start({ historyTtlMs: 100 });
    await broker.follow('f');
    await broker.publish('f', bytes(10), -1, undefined);
    await broker.publish('u', bytes(10), -1, undefined);
    await broker.read('made', 'newest', 1, true, 1000);
    await until(() => broker.topicCount === 1, 2000);
    expect((await broker.read('u', 'newest', 1, false, 1000)).epoch).toBeNull();
    expect((await broker.read('f', 'newest', 1, false, 1000)).seq).toBe(1);
    expect(broker.historyBytes).toBe(held('f', 1, 10));
  });

  it('counts a topic idle from when it was last unfollowed', async () => {
    const { broker } = await start({ historyTtlMs: 300 });
    await broker.follow('f');
    await broker.publish('f', bytes(10), -1, undefined);
    await sleep(350);
    broker.unfollow('f');
    await sleep(100);
    expect((await broker.read('f', 'newest', 1, false, 1000)).seq).toBe(1); // kept: idle 100 ms
    await until(() => broker.topicCount === 0, 2000);
  });
});

describe('MemoryBroker: presence', () => {
  const alice = { client: 'c1', user: 'alice' };
  const bob = { client: 'c2', user: 'bob' };

  it('joins, lists (the full count, at most `limit` clients) and leaves, sending no events', async () => {
    const { broker } = await start();
    broker.presence('t', 'join', [alice, bob]);
    expect(await broker.presenceList('t', 10)).toEqual({ count: 2, clients: [alice, bob] });
    expect(await broker.presenceList('t', 1)).toEqual({ count: 2, clients: [alice] });
    expect(await broker.presenceList('t', 0)).toEqual({ count: 2, clients: [] });
    broker.presence('t', 'leave', [alice]);
    expect(await broker.presenceList('t', 10)).toEqual({ count: 1, clients: [bob] });
    expect(await broker.presenceList('other', 10)).toEqual({ count: 0, clients: [] });
  });

  it("without a table of its own (a single process) stores no write and lists the hub's members", async () => {
    const broker = new MemoryBroker({ ...OPTIONS, keepsPresence: false });
    const asked: string[] = [];
    await broker.start(
      quietEvents({
        present: (topic, limit) => {
          asked.push(`${topic}/${limit}`);
          return { count: 3, clients: [bob] };
        },
      }),
    );
    started.push(broker);
    expect(broker.keepsPresence).toBe(false);
    broker.presence('t', 'join', [alice, bob]);
    // what the hub's members say, not the write: nothing was stored
    expect(broker.presenceList('t', 1)).toEqual({ count: 3, clients: [bob] });
    expect(asked).toEqual(['t/1']);
    expect(MemoryBroker.fromConfig(configWith({}), false).keepsPresence).toBe(false);
    expect(MemoryBroker.fromConfig(configWith({})).keepsPresence).toBe(true);
  });

  it('expires entries that are not refreshed within --presence-ttl', async () => {
    const { broker } = await start({ presenceTtlMs: 300 });
    broker.presence('t', 'join', [alice, bob]);
    await sleep(200);
    broker.presence('t', 'refresh', [bob]);
    await sleep(200);
    expect(await broker.presenceList('t', 10)).toEqual({ count: 1, clients: [bob] });
    await sleep(200);
    expect(await broker.presenceList('t', 10)).toEqual({ count: 0, clients: [] });
  });
});

describe('PresenceTable (the memory broker presence)', () => {
  const c = (i: number) => ({ client: `c${i}`, user: `u${i}` });

  it('forgets a topic when its last entry leaves or expires', () => {
    const table = new PresenceTable(1000);
    table.write('a', 'join', [c(1)], 0);
    table.write('b', 'join', [c(2)], 0);
    table.write('a', 'leave', [c(1)], 10);
    expect(table.size).toBe(1);
    expect(table.list('b', 10, 1000)).toEqual({ count: 0, clients: [] });
    expect(table.size).toBe(0);
  });

  it('drops the expired entries of a topic whenever it is written, so a live topic stays bounded', () => {
    const table = new PresenceTable(1000);
    for (let t = 0; t < 100; t++) table.write('a', 'join', [c(t)], t * 100); // each client lives 1 s
    expect(table.list('a', 1000, 9900)).toMatchObject({ count: 10 });
    table.write('a', 'join', [c(999)], 20_000);
    expect(table.list('a', 1000, 20_000)).toEqual({ count: 1, clients: [c(999)] });
  });

  it('sweeps topics whose every entry expired, oldest first, at most `most` per sweep', () => {
    const table = new PresenceTable(1000);
    for (let t = 0; t < 10; t++) table.write(`t${t}`, 'join', [c(t)], t);
    table.write('t0', 'refresh', [c(0)], 500); // t0 now lives until 1500
    table.sweep(1005, 3);
    expect(table.size).toBe(7);
    table.sweep(1005, 100);
    expect(table.size).toBe(5); // t6..t9 (expiring at 1006..1009) and t0
    table.sweep(1600, 100);
    expect(table.size).toBe(0);
  });
});
