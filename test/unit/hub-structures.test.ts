import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { History, PublishOrder, retainedBytes, type Retained } from '../../server/hub/history.js';
import { IdempotencyStore } from '../../server/broker/idempotency.js';
import { Membership } from '../../server/hub/membership.js';
import { TopicStore } from '../../server/hub/topics.js';
import { Metrics } from '../../server/metrics.js';
import { encodeMsg } from '../../server/protocol/encode.js';

const entry = (seq: number, size = 10): Retained => ({ seq, frame: Buffer.alloc(size), dataStart: 0, dataEnd: size });
const all = (h: History<Retained>, since: number) => h.oldestFirst(since, Infinity, Infinity, () => 1).messages.map((e) => e.seq);

describe('Membership', () => {
  it('adds and removes in O(1) by swapping the last member into the hole', () => {
    const m = new Membership(2);
    for (const id of [10, 11, 12, 13]) m.add(id);
    expect(m.removeAt(1)).toBe(13); // 13 moved into index 1
    expect([...m.view()]).toEqual([10, 13, 12]);
    expect(m.removeAt(2)).toBe(-1); // removing the last moves nothing
    expect([...m.view()]).toEqual([10, 13]);
  });

  it('shrinks its storage after most members leave', () => {
    const m = new Membership();
    for (let i = 0; i < 1000; i++) m.add(i);
    while (m.count > 10) m.removeAt(m.count - 1);
    m.compact();
    expect(m.ids.length).toBeLessThan(64);
    expect([...m.view()]).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });
});

const history = (capacity: number) => new History(capacity, new PublishOrder(retainedBytes));

/** Runs full collections (the flag is set at run time, as test/contract/attack.test.ts does). */
async function collect(): Promise<void> {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  for (let i = 0; i < 3; i++) {
    gc();
    await new Promise((resolve) => setImmediate(resolve));
  }
}

describe('History', () => {
  it('keeps the newest `capacity` entries, oldest first', () => {
    const h = history(3);
    for (let s = 1; s <= 5; s++) h.push(entry(s));
    expect(h.oldestSeq()).toBe(3);
    expect(all(h, 0)).toEqual([3, 4, 5]);
    expect(all(h, 3)).toEqual([4, 5]);
    expect(all(h, 5)).toEqual([]);
    expect(h.bytes).toBe(30);
  });

  it('pages oldest first within a byte and a count budget, with at least one message, saying more', () => {
    const h = history(100);
    for (let s = 1; s <= 10; s++) h.push(entry(s, 100));
    const size = (m: Retained) => m.frame.length;
    expect(h.oldestFirst(0, 350, 100, size)).toMatchObject({ more: true });
    expect(h.oldestFirst(0, 350, 100, size).messages.map((m) => m.seq)).toEqual([1, 2, 3]);
    expect(h.oldestFirst(3, 10_000, 2, size).messages.map((m) => m.seq)).toEqual([4, 5]);
    expect(h.oldestFirst(0, 1, 100, size).messages.map((m) => m.seq)).toEqual([1]);
    expect(h.oldestFirst(8, 10_000, 100, size)).toMatchObject({ more: false });
  });

  it('picks the newest messages that fit for a replay', () => {
    const h = history(100);
    for (let s = 1; s <= 10; s++) h.push(entry(s, 100));
    const page = h.newestFirst(2, 350, 100, (m) => m.frame.length);
    expect(page.messages.map((m) => m.seq)).toEqual([8, 9, 10]);
    expect(page.more).toBe(true);
    expect(h.newestFirst(7, 350, 100, (m) => m.frame.length)).toMatchObject({ more: false });
  });

  it('drops its oldest entry on shift and keeps bytes exact', () => {
    const h = history(100);
    for (let s = 1; s <= 100; s++) h.push(entry(s, s));
    for (let s = 1; s <= 60; s++) expect(h.shift()!.seq).toBe(s);
    expect(h.oldestSeq()).toBe(61);
    expect(h.bytes).toBe(Array.from({ length: 40 }, (_, i) => 61 + i).reduce((a, b) => a + b));
    expect(all(h, 70)[0]).toBe(71);
  });

  it('retains nothing with capacity 0', () => {
    const h = history(0);
    h.push(entry(1));
    expect(h.length).toBe(0);
    expect(h.oldestSeq()).toBeUndefined();
  });
});

describe('TopicStore', () => {
  const store = (maxTopics: number, maxHistoryBytes: number, historyTtlMs = 60_000) => {
    const metrics = new Metrics('ws');
    let epoch = 0;
    return { metrics, topics: new TopicStore({ maxTopics, maxHistoryBytes, history: 100, historyTtlMs }, metrics, () => `e${++epoch}`) };
  };
  const evicted = async (m: Metrics) =>
    (await m.registry.getSingleMetric('ringcast_topics_evicted_total')!.get()).values.map((v) => [v.labels.reason, v.value]);

  it('evicts the least recently active topic without members past --max-topics', async () => {
    const { metrics, topics } = store(3, 1 << 20);
    for (const [i, name] of ['a', 'b', 'c'].entries()) topics.vacated(topics.obtain(name, i)!, i);
    topics.touch(topics.get('a')!, 10); // a is now the most recent
    expect(topics.obtain('d', 11)).toBeDefined();
    expect(topics.get('b')).toBeUndefined();
    expect(topics.get('a')).toBeDefined();
    expect(await evicted(metrics)).toEqual([['max_topics', 1]]);
  });

  it('refuses a new topic when every topic has members', () => {
    const { topics } = store(2, 1 << 20);
    for (const name of ['a', 'b']) topics.occupied(topics.obtain(name, 0)!);
    expect(topics.obtain('c', 1)).toBeUndefined();
  });

  it('drops idle topics first, then the oldest retained messages, past --max-history-bytes', async () => {
    const { metrics, topics } = store(100, 1000);
    const idle = topics.obtain('idle', 0)!;
    topics.retain(idle, entry(1, 300));
    topics.vacated(idle, 0);
    const busy = topics.obtain('busy', 0)!;
    topics.occupied(busy);
    for (let s = 1; s <= 3; s++) topics.retain(busy, entry(s, 300));
    expect(topics.get('idle')).toBeUndefined(); // 1200 > 1000: the idle topic goes first
    expect(topics.historyBytes).toBe(900);
    topics.retain(busy, entry(4, 300));
    expect(busy.history.oldestSeq()).toBe(2); // then the oldest message
    expect(topics.historyBytes).toBe(900);
    expect(await evicted(metrics)).toEqual([['max_history_bytes', 1]]);
    expect((await metrics.registry.getSingleMetric('ringcast_history_evicted_total')!.get()).values[0]!.value).toBe(1);
  });

  it('expires idle topics after --history-ttl, oldest first', () => {
    const { topics } = store(100, 1 << 20, 1000);
    topics.vacated(topics.obtain('old', 0)!, 0);
    topics.vacated(topics.obtain('new', 900)!, 900);
    topics.sweep(1500);
    expect(topics.get('old')).toBeUndefined();
    expect(topics.get('new')).toBeDefined();
  });

  it('keeps its bookkeeping proportional to what is retained under a long publish stream', () => {
    const { topics } = store(100, 1 << 30);
    const t = topics.obtain('t', 0)!;
    topics.occupied(t);
    for (let s = 1; s <= 100_000; s++) topics.retain(t, entry(s, 10));
    expect(topics.retainedCount).toBe(100);
    expect(topics.historyBytes).toBe(1000);
  });

  it('counts what a retained message pins: its frame and compressed twin each own exactly their bytes', () => {
    // a view into a pooled slab, zlib's 16 KiB output chunk or an inbound buffer would pin more than is counted
    const data = Buffer.from(JSON.stringify('z'.repeat(300)));
    const msg = encodeMsg('"t"', 1, data, { threshold: 0, level: 1 });
    expect(msg.compressed).toBeDefined();
    for (const b of [msg.frame, msg.compressed!]) {
      expect(b.byteOffset).toBe(0);
      expect(b.buffer.byteLength).toBe(b.length);
    }
    expect(retainedBytes({ seq: 1, ...msg })).toBe(msg.frame.length + msg.compressed!.length);
  });

  it('lets go of a dropped topic and an evicted message at once: nothing in the store references them', async () => {
    const { topics } = store(1000, 10_000, 60_000);
    const gone = new Set<number>();
    const registry = new FinalizationRegistry((seq: number) => gone.add(seq));
    // in a function of its own: a suspended async frame would keep its last locals alive
    ((): void => {
      const busy = topics.obtain('busy', 0)!;
      topics.occupied(busy);
      // 1..100: one new topic each, left at rest; the byte bound drops the oldest topics
      for (let s = 1; s <= 100; s++) {
        const e = entry(s, 1000);
        registry.register(e.frame, s);
        const t = topics.obtain(`t${s}`, s)!;
        topics.retain(t, e);
        topics.vacated(t, s);
      }
      // 101..200: on the busy topic; the bound then sheds its oldest messages too
      for (let s = 101; s <= 200; s++) {
        const e = entry(s, 1000);
        registry.register(e.frame, s);
        topics.retain(busy, e);
      }
    })();
    expect(topics.size).toBe(1);
    expect(topics.historyBytes).toBe(10_000);
    await collect();
    const kept = Array.from({ length: 200 }, (_, i) => i + 1).filter((s) => !gone.has(s));
    expect(kept).toEqual(Array.from({ length: 10 }, (_, i) => 191 + i));
  });
});

describe('IdempotencyStore', () => {
  it('forgets every key of a topic that left the store, and only that topic', () => {
    const keys = new IdempotencyStore({ ttlMs: 60_000, maxKeys: 100 });
    for (const k of ['k1', 'k2']) keys.remember('a', k, 1, 0);
    keys.remember('b', 'k1', 7, 0);
    keys.forget('a');
    expect(keys.seen('a', 'k1', 1)).toBeUndefined();
    expect(keys.seen('a', 'k2', 1)).toBeUndefined();
    expect(keys.seen('b', 'k1', 1)).toBe(7);
    expect(keys.size).toBe(1);
  });

  it('keeps its per-topic index exact through expiry and the key bound', () => {
    const keys = new IdempotencyStore({ ttlMs: 100, maxKeys: 2 });
    keys.remember('a', 'k1', 1, 0);
    keys.remember('b', 'k1', 1, 50);
    keys.remember('c', 'k1', 1, 60); // past --max-idempotency-keys: a's key goes early
    expect(keys.seen('a', 'k1', 60)).toBeUndefined();
    expect(keys.seen('b', 'k1', 200)).toBeUndefined(); // expired
    expect(keys.size).toBe(0);
    expect((keys as unknown as { byTopic: Map<string, unknown> }).byTopic.size).toBe(0);
  });
});
