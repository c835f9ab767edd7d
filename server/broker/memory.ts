// The in-process shared broker, for --workers N: worker threads whose hubs run in shared-broker
// mode, and one MemoryBroker on the main thread that numbers every topic's publishes and keeps
// history, idempotency keys and presence for all of them. The main thread's routing layer calls
// it for the workers: it follows a topic once for all of them and forwards what events.message
// delivers, and presence events, to the workers that want them.
//
// It mirrors the redis broker's scripts (scripts.ts) rule for rule: the idempotency key is
// checked first, then the topic's seq advances, the message is retained and, when the topic is
// followed, delivered before publish() returns, so the order of delivery is the order of calls.
// Nothing can be lost between it and its caller: events.top, held and restored are never called.
// An epoch is this broker's boot id and a counter, so no two topics' lives share one, even across
// restarts; a topic's epoch never changes while it exists (base 0, no previous epoch).
//
// Bounded like the hub's own store (hub/topics.ts): at most --max-topics topics and
// --max-history-bytes of retained data. Past either, the topics nobody follows go first, least
// recently active first; then the oldest retained messages of any topic. A topic nobody follows is
// dropped after --history-ttl without a publish (its seq and epoch go with it, as in Redis when
// the topic's meta expires). Data is copied in, into buffers that own exactly their bytes: the
// caller's may be a view of a pooled or reused buffer, and a 64-byte slice of an 8 KiB pool would
// keep the whole pool alive and uncounted.
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Config } from '../config.js';
import { IdempotencyStore } from '../hub/idempotency.js';
import { PresenceTable } from './memory-presence.js';
import {
  BrokerTopicLimitError,
  BrokerUnavailableError,
  type BrokerEvents,
  type BrokerHealth,
  type PresenceList,
  type Published,
  type SharedBroker,
  type StoredMessage,
  type TopicState,
} from './types.js';

/** Topics (and presence topics) one sweep drops at most, so a tick stays short however many expire at once. */
const SWEEP_BATCH = 10_000;
/** Shortest period of the sweep (ms), whatever --history-ttl. */
const MIN_SWEEP_MS = 100;
/** Longest period of the sweep (ms). */
const MAX_SWEEP_MS = 10_000;

export interface MemoryBrokerOptions {
  /** --history: messages retained per topic; 0 retains none */
  history: number;
  /** --history-ttl (ms): a topic nobody follows is dropped after this long without a publish */
  historyTtlMs: number;
  /** --max-topics */
  maxTopics: number;
  /** --max-history-bytes: retained data bytes over all topics */
  maxHistoryBytes: number;
  /** --idempotency-ttl (ms); 0 = keys ignored */
  idempotencyTtlMs: number;
  /** --max-idempotency-keys, over all topics */
  maxIdempotencyKeys: number;
  /** --presence-ttl (ms): how long a presence entry lives unless refreshed */
  presenceTtlMs: number;
}

/** One topic as the broker holds it. */
interface SeqTopic {
  readonly name: string;
  readonly epoch: string;
  seq: number;
  /** retained messages from `head` on, oldest first, consecutive seqs */
  messages: StoredMessage[];
  head: number;
  /** data bytes of the retained messages */
  bytes: number;
  /** last publish, creation or unfollow (ms, monotonic) */
  lastActive: number;
  /** evicted or expired: its entries in `held` are stale */
  dropped: boolean;
}

/** One retained message in publish order over all topics; stale once its topic dropped it. */
interface Held {
  topic: SeqTopic;
  seq: number;
}

type State = 'connecting' | 'up' | 'stopped';

export class MemoryBroker implements SharedBroker {
  readonly name = 'memory';
  private state: State = 'connecting';
  private events!: BrokerEvents;
  private readonly bootId = randomBytes(6).toString('hex');
  private epochCount = 0;
  private readonly topics = new Map<string, SeqTopic>();
  /** topics nobody follows, least recently active first (re-inserted on activity) */
  private readonly idle = new Set<SeqTopic>();
  /** topics the routing layer follows; a followed topic need not exist */
  private readonly followed = new Set<string>();
  /** retained messages, oldest first, for --max-history-bytes; stale entries are skipped */
  private held: Held[] = [];
  private heldHead = 0;
  private retainedCount = 0;
  private bytes = 0;
  private readonly keys: IdempotencyStore;
  private readonly presenceTable: PresenceTable;
  private sweepTimer: NodeJS.Timeout | undefined;
  /** a topic dropped for a bound (ringcast_topics_evicted_total), or a retained message shed for --max-history-bytes */
  onEvicted: (what: 'ttl' | 'max_topics' | 'max_history_bytes' | 'message') => void = () => undefined;

  constructor(private readonly options: MemoryBrokerOptions) {
    this.keys = new IdempotencyStore({ ttlMs: options.idempotencyTtlMs, maxKeys: options.maxIdempotencyKeys });
    this.presenceTable = new PresenceTable(options.presenceTtlMs);
  }

  static fromConfig(config: Config): MemoryBroker {
    return new MemoryBroker({
      history: config.history,
      historyTtlMs: config.historyTtl * 1000,
      maxTopics: config.maxTopics,
      maxHistoryBytes: config.maxHistoryBytes,
      idempotencyTtlMs: config.idempotencyTtl * 1000,
      maxIdempotencyKeys: config.maxIdempotencyKeys,
      presenceTtlMs: config.presenceTtl * 1000,
    });
  }

  get ready(): boolean {
    return this.state === 'up';
  }

  health(): BrokerHealth {
    return { broker: this.name, state: this.state };
  }

  /** Topics held (followed or not). */
  get topicCount(): number {
    return this.topics.size;
  }

  /** Retained data bytes over all topics. */
  get historyBytes(): number {
    return this.bytes;
  }

  async start(events: BrokerEvents): Promise<void> {
    if (this.state === 'stopped') throw new BrokerUnavailableError('the broker is stopped');
    this.events = events;
    this.state = 'up';
    const every = Math.min(Math.max(this.options.historyTtlMs, MIN_SWEEP_MS), MAX_SWEEP_MS);
    clearInterval(this.sweepTimer);
    this.sweepTimer = setInterval(() => this.sweep(performance.now()), every);
    this.sweepTimer.unref();
  }

  async stop(): Promise<void> {
    this.state = 'stopped';
    clearInterval(this.sweepTimer);
    for (const topic of this.topics.values()) this.drop(topic);
    this.held = [];
    this.heldHead = 0;
    this.followed.clear();
    this.presenceTable.clear();
  }

  // ---- requests ----

  async publish(topic: string, data: Uint8Array, origin: number, key: string | undefined): Promise<Published> {
    this.mustBeUp();
    const now = performance.now();
    if (key !== undefined) {
      const first = this.keys.seen(topic, key, now);
      if (first !== undefined) return { seq: first, epoch: this.topics.get(topic)?.epoch ?? '', duplicate: true, nodes: 0 };
    }
    const t = this.obtain(topic, 'publish to', now);
    const seq = ++t.seq;
    this.touch(t, now);
    if (key !== undefined) this.keys.remember(topic, key, seq, now);
    const followed = this.followed.has(topic);
    if (this.options.history === 0 && !followed) return { seq, epoch: t.epoch, duplicate: false, nodes: 0 };
    const copy = Buffer.allocUnsafeSlow(data.byteLength);
    copy.set(data);
    if (this.options.history > 0) this.retain(t, { seq, data: copy });
    if (followed) this.events.message(topic, seq, t.epoch, copy, origin);
    return { seq, epoch: t.epoch, duplicate: false, nodes: followed ? 1 : 0 };
  }

  async follow(topic: string): Promise<void> {
    this.followed.add(topic);
    const t = this.topics.get(topic);
    if (t !== undefined) this.idle.delete(t);
    this.mustBeUp();
  }

  unfollow(topic: string): void {
    if (!this.followed.delete(topic)) return;
    const t = this.topics.get(topic);
    if (t === undefined) return;
    // kept for --history-ttl from now, so a subscriber that comes back in time recovers
    t.lastActive = performance.now();
    this.idle.add(t);
  }

  /**
   * As the redis READ script. The messages are the broker's own buffers, shared with its history:
   * the caller reads them and never mutates or transfers them (postMessage copies; a transfer list
   * would detach the history).
   */
  async read(topic: string, after: number | 'newest', count: number, create: boolean, bytes: number): Promise<TopicState> {
    this.mustBeUp();
    let t = this.topics.get(topic);
    if (t === undefined) {
      if (!create) return { seq: 0, epoch: null, oldest: 0, base: 0, previous: null, messages: [] };
      t = this.obtain(topic, 'create', performance.now());
    }
    const oldest = t.head < t.messages.length ? t.messages[t.head]!.seq : 0;
    const messages = after === 'newest' ? newest(t, count, bytes) : following(t, after, count, bytes);
    return { seq: t.seq, epoch: t.epoch, oldest, base: 0, previous: null, messages };
  }

  presence(topic: string, op: 'join' | 'leave' | 'refresh', clients: readonly { client: string; user: string }[]): void {
    if (!this.ready || clients.length === 0) return;
    this.presenceTable.write(topic, op, clients, performance.now());
  }

  async presenceList(topic: string, limit: number): Promise<PresenceList> {
    this.mustBeUp();
    return this.presenceTable.list(topic, limit, performance.now());
  }

  // ---- topics and their bounds ----

  /** The topic, created (a new epoch) when missing; past --max-topics the least recently active unfollowed topic makes room. */
  private obtain(name: string, op: 'publish to' | 'create', now: number): SeqTopic {
    const existing = this.topics.get(name);
    if (existing !== undefined) return existing;
    if (this.topics.size >= this.options.maxTopics) {
      const victim = this.idle.values().next();
      if (victim.done === true)
        throw new BrokerTopicLimitError(`cannot ${op} ${name}: ${this.options.maxTopics} topics exist, all with subscribers`);
      this.drop(victim.value);
      this.onEvicted('max_topics');
    }
    const topic: SeqTopic = {
      name,
      epoch: `${this.bootId}-${(++this.epochCount).toString(36)}`,
      seq: 0,
      messages: [],
      head: 0,
      bytes: 0,
      lastActive: now,
      dropped: false,
    };
    this.topics.set(name, topic);
    if (!this.followed.has(name)) this.idle.add(topic);
    return topic;
  }

  /** A publish: the topic is now the most recently active. */
  private touch(topic: SeqTopic, now: number): void {
    topic.lastActive = now;
    if (this.idle.delete(topic)) this.idle.add(topic);
  }

  /** Retains a message (pushing out the topic's oldest past --history), then sheds down to --max-history-bytes. */
  private retain(topic: SeqTopic, m: StoredMessage): void {
    topic.messages.push(m);
    topic.bytes += m.data.length;
    this.bytes += m.data.length;
    this.held.push({ topic, seq: m.seq });
    this.retainedCount++;
    if (topic.messages.length - topic.head > this.options.history) this.shift(topic);
    if (this.bytes > this.options.maxHistoryBytes) this.shed(topic);
    if (this.heldHead > 4096 || this.held.length - this.heldHead > 2 * this.retainedCount + 1024) this.compactHeld();
  }

  /** Drops a topic's oldest retained message. */
  private shift(topic: SeqTopic): void {
    const oldest = topic.messages[topic.head]!;
    topic.messages[topic.head++] = undefined as unknown as StoredMessage;
    topic.bytes -= oldest.data.length;
    this.bytes -= oldest.data.length;
    this.retainedCount--;
    if (topic.head > 32 && topic.head * 2 > topic.messages.length) {
      topic.messages = topic.messages.slice(topic.head);
      topic.head = 0;
    }
  }

  /** Over --max-history-bytes: unfollowed topics first (least recently active, never `current`), then the oldest messages. */
  private shed(current: SeqTopic): void {
    for (const topic of this.idle) {
      if (this.bytes <= this.options.maxHistoryBytes) return;
      if (topic === current) continue;
      this.drop(topic);
      this.onEvicted('max_history_bytes');
    }
    while (this.bytes > this.options.maxHistoryBytes && this.heldHead < this.held.length) {
      const { topic, seq } = this.held[this.heldHead]!;
      this.held[this.heldHead++] = undefined as unknown as Held;
      const oldest = topic.messages[topic.head];
      if (topic.dropped || oldest === undefined || oldest.seq !== seq) continue; // already gone
      this.shift(topic);
      this.onEvicted('message');
    }
  }

  /** Forgets `held` entries of messages that are gone, so it stays proportional to what is retained. */
  private compactHeld(): void {
    const live: Held[] = [];
    for (let i = this.heldHead; i < this.held.length; i++) {
      const h = this.held[i]!;
      const oldest = h.topic.messages[h.topic.head];
      if (!h.topic.dropped && oldest !== undefined && h.seq >= oldest.seq) live.push(h);
    }
    this.held = live;
    this.heldHead = 0;
  }

  private drop(topic: SeqTopic): void {
    topic.dropped = true;
    this.topics.delete(topic.name);
    this.idle.delete(topic);
    this.bytes -= topic.bytes;
    this.retainedCount -= topic.messages.length - topic.head;
    // stale `held` entries still point at the topic: it must not keep its messages alive
    topic.messages = [];
    topic.head = 0;
    topic.bytes = 0;
  }

  /** Drops unfollowed topics idle past --history-ttl and expired presence, a bounded number per tick. */
  private sweep(now: number): void {
    const cutoff = now - this.options.historyTtlMs;
    let n = 0;
    for (const topic of this.idle) {
      if (topic.lastActive > cutoff || n++ >= SWEEP_BATCH) break; // the rest are more recent
      this.drop(topic);
      this.onEvicted('ttl');
    }
    this.presenceTable.sweep(now, SWEEP_BATCH);
  }

  private mustBeUp(): void {
    if (this.state !== 'up') throw new BrokerUnavailableError(`the broker is ${this.state === 'stopped' ? 'stopped' : 'not started'}`);
  }
}

/** The newest `count` retained messages, oldest first, within `budget` data bytes (at least one): the oldest end is cut. */
function newest(t: SeqTopic, count: number, budget: number): StoredMessage[] {
  const end = t.messages.length;
  const floor = Math.max(t.head, end - count);
  let start = end;
  let bytes = 0;
  while (start > floor) {
    bytes += t.messages[start - 1]!.data.length;
    if (start < end && bytes > budget) break;
    start--;
  }
  return t.messages.slice(start, end);
}

/** Up to `count` retained messages with seq > after, oldest first, within `budget` data bytes (at least one): the newest end is cut. */
function following(t: SeqTopic, after: number, count: number, budget: number): StoredMessage[] {
  const end = t.messages.length;
  if (t.head === end) return [];
  const first = t.head + Math.max(0, Math.min(end - t.head, after - t.messages[t.head]!.seq + 1));
  const out: StoredMessage[] = [];
  let bytes = 0;
  for (let i = first; i < end && out.length < count; i++) {
    const m = t.messages[i]!;
    bytes += m.data.length;
    if (out.length > 0 && bytes > budget) break;
    out.push(m);
  }
  return out;
}
