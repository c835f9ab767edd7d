// The bounded topic store: every topic held, within two bounds, --max-topics topics and
// --max-history-bytes of retained messages. Topics without members (the hub) or nobody follows
// (the memory broker of --workers) are kept for --history-ttl, so a client reconnecting in time
// recovers, in least-recently-active order, which is also the order they are evicted in when a
// bound bites; after them go the oldest retained messages of any topic. Reads (history,
// presence) never create a topic.
//
// One implementation for every store: the in-process broker's, the server's own
// (server/broker/memory.ts), and each hub's copies of the topics its subscribers follow
// (TopicStore below). Bounds
// are on memory: a dropped topic lets go of its messages at once, and the retention order over
// all topics (history.ts PublishOrder) only ever holds what is retained.
import type { Metrics } from '../metrics.js';
import { History, PublishOrder, retainedBytes, type Retained } from './history.js';
import { Topic } from './topic.js';

export interface TopicLimits {
  maxTopics: number;
  maxHistoryBytes: number;
  /** messages retained per topic */
  history: number;
  /** how long a topic without members is kept (ms); 0 drops it at once */
  historyTtlMs: number;
}

/** What a store holds of a topic. */
export interface StoredTopic<E extends { seq: number }> {
  readonly name: string;
  readonly history: History<E>;
  /** last publish, creation or loss of the last member (ms, monotonic) */
  lastActive: number;
  /** evicted or expired: no longer in the store */
  dropped: boolean;
}

export type DropReason = 'ttl' | 'max_topics' | 'max_history_bytes';

export interface StoreEvents<T> {
  /** a topic left the store for `reason` (not on clear()) */
  dropped?: (topic: T, reason: DropReason) => void;
  /** a retained message was shed for --max-history-bytes */
  shed?: () => void;
}

export class BoundedTopics<T extends StoredTopic<E>, E extends { seq: number }> {
  private readonly byName = new Map<string, T>();
  /** topics at rest (no members, or not followed), least recently active first (re-inserted on activity) */
  private readonly idle = new Set<T>();
  private readonly order: PublishOrder<E>;

  constructor(
    protected readonly limits: TopicLimits,
    /** the bytes an entry holds, as --max-history-bytes counts them */
    size: (entry: E) => number,
    private readonly create: (name: string, history: History<E>) => T,
    private readonly events: StoreEvents<T> = {},
  ) {
    this.order = new PublishOrder(size);
  }

  /** The names of the topics held (safe to drop topics while iterating). */
  names(): string[] {
    return [...this.byName.keys()];
  }

  get size(): number {
    return this.byName.size;
  }

  /** Retained bytes over all topics. */
  get historyBytes(): number {
    return this.order.bytes;
  }

  /** Retained messages over all topics. */
  get retainedCount(): number {
    return this.order.count;
  }

  get(name: string): T | undefined {
    return this.byName.get(name);
  }

  /** The topic, created (not at rest) when missing; undefined when --max-topics topics are all in use. */
  obtain(name: string, now: number): T | undefined {
    const existing = this.byName.get(name);
    if (existing !== undefined) return existing;
    if (this.byName.size >= this.limits.maxTopics) {
      const victim = this.idle.values().next();
      if (victim.done === true) return undefined;
      this.drop(victim.value, 'max_topics');
    }
    const topic = this.create(name, new History(this.limits.history, this.order));
    topic.lastActive = now;
    this.byName.set(name, topic);
    return topic;
  }

  /** Retains a published message (pushing out the topic's oldest past --history), then sheds down to --max-history-bytes. */
  retain(topic: T, entry: E): void {
    topic.history.push(entry);
    if (this.order.bytes > this.limits.maxHistoryBytes) this.shed(topic);
  }

  /** A publish: the topic is now the most recently active. */
  touch(topic: T, now: number): void {
    topic.lastActive = now;
    if (this.idle.delete(topic)) this.idle.add(topic);
  }

  /** The topic is in use (gained its first member, or is followed): it cannot be evicted. */
  occupied(topic: T): void {
    this.idle.delete(topic);
  }

  /** The topic is at rest from `now`: kept for --history-ttl, first to go when a bound bites. */
  rest(topic: T, now: number): void {
    if (topic.dropped) return;
    topic.lastActive = now;
    this.idle.delete(topic);
    this.idle.add(topic);
  }

  /** Drops topics at rest for longer than --history-ttl, at most `most` of them (a sweep stays short). */
  sweep(now: number, most = Infinity): void {
    const cutoff = now - this.limits.historyTtlMs;
    let n = 0;
    for (const topic of this.idle) {
      if (topic.lastActive > cutoff || n++ >= most) return; // the rest are more recent
      this.drop(topic, 'ttl');
    }
  }

  /** Drops `topic` now (a shared-broker topic that could not be synced). */
  discard(topic: T): void {
    if (!topic.dropped) this.drop(topic, 'ttl');
  }

  /** Forgets a topic's retained messages (its copy is replaced from the shared broker). */
  clearHistory(topic: T): void {
    topic.history.clear();
  }

  /** Drops every topic, telling nobody (the store stops). */
  clear(): void {
    for (const topic of this.byName.values()) this.forget(topic);
  }

  protected drop(topic: T, reason: DropReason): void {
    this.forget(topic);
    this.events.dropped?.(topic, reason);
  }

  private forget(topic: T): void {
    topic.dropped = true;
    this.idle.delete(topic);
    this.byName.delete(topic.name);
    topic.history.clear();
  }

  /** Over --max-history-bytes: topics at rest first (least recently active, never `current`), then the oldest messages. */
  private shed(current: T): void {
    for (const topic of this.idle) {
      if (this.order.bytes <= this.limits.maxHistoryBytes) return;
      if (topic !== current) this.drop(topic, 'max_history_bytes');
    }
    while (this.order.bytes > this.limits.maxHistoryBytes && this.order.evictOldest()) this.events.shed?.();
  }
}

/** A hub's copies of the topics its subscribers follow (the broker numbers them and keeps their history). */
export class TopicStore extends BoundedTopics<Topic, Retained> {
  constructor(
    limits: TopicLimits,
    metrics: Metrics,
    newEpoch: () => string,
    /** called when a topic leaves the store, whatever the reason */
    onDrop?: (topic: Topic) => void,
    /** false: the store holds copies of one that counts its own evictions (--workers, memory broker) */
    counted = true,
  ) {
    super(limits, retainedBytes, (name, history) => new Topic(name, newEpoch(), history), {
      dropped: (topic, reason) => {
        if (counted) metrics.topicsEvicted.inc({ reason });
        onDrop?.(topic);
      },
      shed: () => {
        if (counted) metrics.historyEvicted.inc();
      },
    });
  }

  /** The topic has no members (any more): keep it for --history-ttl, or drop it now. */
  vacated(topic: Topic, now: number): void {
    if (topic.members.count !== 0 || topic.dropped) return;
    if (this.limits.historyTtlMs === 0) return this.drop(topic, 'ttl');
    this.rest(topic, now);
  }
}
