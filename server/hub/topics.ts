// Every topic the server holds, within two server-wide bounds: --max-topics topics and
// --max-history-bytes of retained frames. Topics without members are kept for --history-ttl
// (so a client reconnecting in time recovers) in least-recently-active order, which is also the
// order they are evicted in when a bound bites; after them go the oldest retained messages of
// any topic. Reads (history, presence) never create a topic.
import type { Metrics } from '../metrics.js';
import type { Retained } from './history.js';
import { Topic } from './topic.js';

export interface TopicLimits {
  maxTopics: number;
  maxHistoryBytes: number;
  /** messages retained per topic */
  history: number;
  /** how long a topic without members is kept (ms); 0 drops it at once */
  historyTtlMs: number;
}

/** One retained message in server-wide publish order; stale once its topic dropped it. */
interface Held {
  topic: Topic;
  seq: number;
}

export class TopicStore {
  private readonly byName = new Map<string, Topic>();
  /** topics without members, least recently active first (re-inserted on activity) */
  private readonly idle = new Set<Topic>();
  /** retained messages, oldest first, for --max-history-bytes; stale entries are skipped */
  private held: Held[] = [];
  private heldHead = 0;
  private retainedCount = 0;
  historyBytes = 0;

  constructor(
    private readonly limits: TopicLimits,
    private readonly metrics: Metrics,
    private readonly newEpoch: () => string,
    /** called when a topic leaves the store, whatever the reason */
    private readonly onDrop?: (topic: Topic) => void,
    /** false: the store holds copies of one that counts its own evictions (--workers, memory broker) */
    private readonly counted = true,
  ) {}

  /** The names of the topics held (safe to drop topics while iterating). */
  names(): string[] {
    return [...this.byName.keys()];
  }

  /** Drops `topic` now (a shared-broker topic that could not be synced). */
  discard(topic: Topic): void {
    if (!topic.dropped) this.drop(topic, 'ttl');
  }

  /** Forgets a topic's retained messages (its copy is replaced from the shared broker). */
  clearHistory(topic: Topic): void {
    while (topic.history.length > 0) {
      const before = topic.history.bytes;
      topic.history.shift();
      this.historyBytes -= before - topic.history.bytes;
      this.retainedCount--;
    }
  }

  get size(): number {
    return this.byName.size;
  }

  get(name: string): Topic | undefined {
    return this.byName.get(name);
  }

  /** The topic, created when missing; undefined when --max-topics topics all have members. */
  obtain(name: string, now: number): Topic | undefined {
    const existing = this.byName.get(name);
    if (existing !== undefined) return existing;
    if (this.byName.size >= this.limits.maxTopics) {
      const victim = this.idle.values().next();
      if (victim.done === true) return undefined;
      this.drop(victim.value, 'max_topics');
    }
    const topic = new Topic(name, this.newEpoch(), this.limits.history);
    topic.lastActive = now;
    this.byName.set(name, topic);
    return topic;
  }

  /** Retains a published message, then brings the store back under --max-history-bytes. */
  retain(topic: Topic, entry: Retained): void {
    const before = topic.history.bytes;
    const pushedOut = topic.history.push(entry);
    this.historyBytes += topic.history.bytes - before;
    if (pushedOut !== entry) {
      this.held.push({ topic, seq: entry.seq });
      this.retainedCount++;
    }
    if (pushedOut !== undefined && pushedOut !== entry) this.retainedCount--;
    if (this.historyBytes > this.limits.maxHistoryBytes) this.shed(topic);
    if (this.heldHead > 4096 || this.held.length - this.heldHead > 2 * this.retainedCount + 1024) this.compactHeld();
  }

  /** A topic without members had activity (a publish): it is now the most recently active. */
  touch(topic: Topic, now: number): void {
    topic.lastActive = now;
    if (this.idle.delete(topic)) this.idle.add(topic);
  }

  /** The topic gained its first member. */
  occupied(topic: Topic): void {
    this.idle.delete(topic);
  }

  /** The topic has no members (any more): keep it for --history-ttl, or drop it now. */
  vacated(topic: Topic, now: number): void {
    if (topic.members.count !== 0 || topic.dropped) return;
    if (this.limits.historyTtlMs === 0) return this.drop(topic, 'ttl');
    topic.lastActive = now;
    this.idle.delete(topic);
    this.idle.add(topic);
  }

  /** Drops topics without members idle for longer than --history-ttl. */
  sweep(now: number): void {
    const cutoff = now - this.limits.historyTtlMs;
    for (const topic of this.idle) {
      if (topic.lastActive > cutoff) return; // the rest are more recent
      this.drop(topic, 'ttl');
    }
  }

  private drop(topic: Topic, reason: 'ttl' | 'max_topics' | 'max_history_bytes'): void {
    topic.dropped = true;
    this.idle.delete(topic);
    this.byName.delete(topic.name);
    this.historyBytes -= topic.history.bytes;
    this.retainedCount -= topic.history.length;
    if (this.counted) this.metrics.topicsEvicted.inc({ reason });
    this.onDrop?.(topic);
  }

  /** Over --max-history-bytes: idle topics first (oldest first, never `current`), then the oldest messages. */
  private shed(current: Topic): void {
    for (const topic of this.idle) {
      if (this.historyBytes <= this.limits.maxHistoryBytes) return;
      if (topic !== current) this.drop(topic, 'max_history_bytes');
    }
    while (this.historyBytes > this.limits.maxHistoryBytes && this.heldHead < this.held.length) {
      const { topic, seq } = this.held[this.heldHead]!;
      this.held[this.heldHead++] = undefined as unknown as Held;
      if (topic.dropped || topic.history.oldestSeq() !== seq) continue; // already gone
      const before = topic.history.bytes;
      topic.history.shift();
      this.historyBytes -= before - topic.history.bytes;
      this.retainedCount--;
      if (this.counted) this.metrics.historyEvicted.inc();
    }
  }

  /** Forgets entries of messages that are gone, so `held` stays proportional to what is retained. */
  private compactHeld(): void {
    const live: Held[] = [];
    for (let i = this.heldHead; i < this.held.length; i++) {
      const h = this.held[i]!;
      const oldest = h.topic.history.oldestSeq();
      if (!h.topic.dropped && oldest !== undefined && h.seq >= oldest) live.push(h);
    }
    this.held = live;
    this.heldHead = 0;
  }
}
