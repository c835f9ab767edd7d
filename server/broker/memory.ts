// The in-process broker: a single-process server's, or the main thread's of --workers N (whose
// routing layer, cluster/host.ts, follows a topic once for every worker and forwards what
// events.publication delivers). It numbers every topic's publishes and keeps history,
// idempotency keys and presence.
//
// It mirrors the redis broker's scripts (scripts.ts) rule for rule: the idempotency key is
// checked first, then the topic's seq advances, the message is retained and, when the topic is
// followed, delivered before publish() returns, so the order of delivery is the order of calls.
// It answers in the call (a value, or a throw), never later: the hub of a single process replies
// in request order, as it did when it numbered messages itself. Nothing can be lost between it
// and its caller: events.top, missed, followed and restored are never called.
// An epoch is this broker's boot id and a counter, so no two topics' lives share one, even across
// restarts; a topic's epoch never changes while it exists (base 0, no previous epoch).
//
// A message is encoded here, once (with its permessage-deflate twin while a connection
// negotiated it): the frames are what it retains and what it hands to the hub, which sends and
// retains the same buffers, so a message is held once however many stores keep it.
//
// Bounded by the one bounded store (hub/topics.ts BoundedTopics): at most --max-topics topics and
// --max-history-bytes of retained frames (each message's frame and compressed twin: what it
// holds). Past either, the topics nobody follows go first, least recently active first; then the oldest retained messages of any topic. A topic nobody follows
// is dropped after --history-ttl without a publish (at once with 0; its seq, epoch and
// idempotency keys go with it, as in Redis when the topic's meta expires). A dropped topic or an
// evicted message is released at once. Data is copied in (into the frame, a buffer of its own):
// the caller's may be a view of a pooled or reused buffer, and a 64-byte slice of an 8 KiB pool
// would keep the whole pool alive and uncounted.
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Config } from '../config.js';
import type { Metrics } from '../metrics.js';
import { deflateOptions, type DeflateOptions } from '../protocol/deflate.js';
import { encodeMsg, jsonAscii } from '../protocol/encode.js';
import { IdempotencyStore } from './idempotency.js';
import { BoundedTopics, type StoredTopic } from '../hub/topics.js';
import { PresenceTable } from './memory-presence.js';
import {
  BrokerTopicLimitError,
  BrokerUnavailableError,
  type BrokerEvents,
  type BrokerHealth,
  type PresenceList,
  type Published,
  type SharedBroker,
  type SharedFrames,
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
  /** --permessage-deflate on: a message gets its compressed twin while deflating(true) */
  deflate?: DeflateOptions | undefined;
  /**
   * false: its one client is the hub of a single process, whose members are the presence (no
   * table, nothing written; presenceList asks events.present). The main thread of --workers keeps
   * the table for every worker.
   */
  keepsPresence?: boolean;
}

/** One topic as the broker holds it. */
interface SeqTopic extends StoredTopic<StoredMessage> {
  readonly epoch: string;
  /** the name as a JSON string literal, for its frames */
  readonly json: string;
  seq: number;
}

type State = 'connecting' | 'up' | 'stopped';

export class MemoryBroker implements SharedBroker {
  readonly name = 'memory';
  readonly inProcess = true;
  readonly keepsPresence: boolean;
  private state: State = 'connecting';
  private events!: BrokerEvents;
  private readonly bootId = randomBytes(6).toString('hex');
  private epochCount = 0;
  private readonly topics: BoundedTopics<SeqTopic, StoredMessage>;
  /** topics the routing layer follows; a followed topic need not exist */
  private readonly followed = new Set<string>();
  private readonly keys: IdempotencyStore;
  private readonly presenceTable: PresenceTable;
  private sweepTimer: NodeJS.Timeout | undefined;
  /** connections that negotiated permessage-deflate exist: messages get their compressed twin */
  private deflateOn = false;
  /** a topic dropped for a bound (ringcast_topics_evicted_total), or a retained message shed for --max-history-bytes */
  onEvicted: (what: 'ttl' | 'max_topics' | 'max_history_bytes' | 'message') => void = () => undefined;

  constructor(private readonly options: MemoryBrokerOptions) {
    this.keepsPresence = options.keepsPresence ?? true;
    this.keys = new IdempotencyStore({ ttlMs: options.idempotencyTtlMs, maxKeys: options.maxIdempotencyKeys });
    this.presenceTable = new PresenceTable(options.presenceTtlMs);
    this.topics = new BoundedTopics<SeqTopic, StoredMessage>(
      options,
      // what a message holds: its frame and compressed twin (the data is a view into the frame)
      (m) => (m.frames === undefined ? m.data.length : m.frames.frame.length + (m.frames.compressed?.length ?? 0)),
      (name, history) => ({
        name,
        json: jsonAscii(name),
        epoch: `${this.bootId}-${(++this.epochCount).toString(36)}`,
        seq: 0,
        history,
        lastActive: 0,
        dropped: false,
      }),
      {
        dropped: (topic, reason) => {
          this.keys.forget(topic.name);
          this.onEvicted(reason);
        },
        shed: () => this.onEvicted('message'),
      },
    );
  }

  static fromConfig(config: Config, keepsPresence = true): MemoryBroker {
    return new MemoryBroker({
      keepsPresence,
      history: config.history,
      historyTtlMs: config.historyTtl * 1000,
      maxTopics: config.maxTopics,
      maxHistoryBytes: config.maxHistoryBytes,
      idempotencyTtlMs: config.idempotencyTtl * 1000,
      maxIdempotencyKeys: config.maxIdempotencyKeys,
      presenceTtlMs: config.presenceTtl * 1000,
      deflate: deflateOptions(config),
    });
  }

  /** /metrics shows this store as the server's (topics, history bytes) and counts its evictions. */
  countInto(metrics: Metrics): void {
    metrics.attachStore(() => this.store);
    this.onEvicted = (what) => (what === 'message' ? metrics.historyEvicted.inc() : metrics.topicsEvicted.inc({ reason: what }));
  }

  /** Topics held (followed or not). */
  get topicCount(): number {
    return this.topics.size;
  }

  /** Retained data bytes over all topics. */
  get historyBytes(): number {
    return this.topics.historyBytes;
  }

  /** The server's bounded store: its topics and retained bytes. */
  get store(): { readonly size: number; readonly historyBytes: number } {
    return this.topics;
  }

  get ready(): boolean {
    return this.state === 'up';
  }

  health(): BrokerHealth {
    return { broker: this.name, state: this.state };
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
    this.topics.clear();
    this.keys.clear();
    this.followed.clear();
    this.presenceTable.clear();
  }

  // ---- requests ----

  publish(topic: string, data: Uint8Array, origin: number, key: string | undefined): Published {
    this.mustBeUp();
    const now = performance.now();
    if (key !== undefined) {
      const first = this.keys.seen(topic, key, now);
      if (first !== undefined) return { seq: first, epoch: this.topics.get(topic)?.epoch ?? '', duplicate: true, nodes: 0 };
    }
    const t = this.obtain(topic, 'publish to', now);
    const seq = ++t.seq;
    this.topics.touch(t, now);
    if (key !== undefined) this.keys.remember(topic, key, seq, now);
    const followed = this.followed.has(topic);
    if (!followed && this.options.historyTtlMs === 0) {
      // kept for no time without a follower: numbered, then gone with its seq and epoch
      this.topics.discard(t);
      return { seq, epoch: t.epoch, duplicate: false, nodes: 0 };
    }
    if (this.options.history === 0 && !followed) return { seq, epoch: t.epoch, duplicate: false, nodes: 0 };
    const deflate = this.deflateOn ? this.options.deflate : undefined;
    const msg = encodeMsg(t.json, seq, data, deflate);
    const frames: SharedFrames = {
      frame: msg.frame,
      compressed: msg.compressed,
      dataStart: msg.dataStart,
      dataEnd: msg.dataEnd,
      deflated: deflate !== undefined,
    };
    const copy = msg.frame.subarray(msg.dataStart, msg.dataEnd);
    if (this.options.history > 0) this.topics.retain(t, { seq, data: copy, frames });
    const nodes = followed ? this.events.publication(topic, seq, t.epoch, copy, origin, frames) : 0;
    return { seq, epoch: t.epoch, duplicate: false, nodes };
  }

  follow(topic: string): void {
    this.followed.add(topic);
    const t = this.topics.get(topic);
    if (t !== undefined) this.topics.occupied(t);
    this.mustBeUp();
  }

  unfollow(topic: string): void {
    if (!this.followed.delete(topic)) return;
    const t = this.topics.get(topic);
    if (t === undefined) return;
    // kept for --history-ttl from now, so a subscriber that comes back in time recovers (0: gone now)
    if (this.options.historyTtlMs === 0) this.topics.discard(t);
    else this.topics.rest(t, performance.now());
  }

  /** Whether messages get their compressed twin (some connection negotiated permessage-deflate). */
  deflating(on: boolean): void {
    this.deflateOn = on;
  }

  /**
   * As the redis READ script. The messages are the broker's own buffers, shared with its history:
   * the caller reads them and never mutates or transfers them (postMessage copies; a transfer list
   * would detach the history).
   */
  read(topic: string, after: number | 'newest', count: number, create: boolean, bytes: number): TopicState {
    this.mustBeUp();
    let t = this.topics.get(topic);
    if (t === undefined) {
      if (!create) return { seq: 0, epoch: null, oldest: 0, base: 0, previous: null, messages: [] };
      t = this.obtain(topic, 'create', performance.now());
    }
    const oldest = t.history.oldestSeq() ?? 0;
    // at most `count` (none for 0), within `bytes` but at least one: the oldest end is cut for 'newest', the newest end otherwise
    const size = (m: StoredMessage) => m.data.length;
    const messages =
      count <= 0
        ? []
        : after === 'newest'
          ? t.history.newestFirst(0, bytes, count, size).messages
          : t.history.oldestFirst(after, bytes, count, size).messages;
    return { seq: t.seq, epoch: t.epoch, oldest, base: 0, previous: null, messages };
  }

  presence(topic: string, op: 'join' | 'leave' | 'refresh', clients: readonly { client: string; user: string }[]): void {
    if (!this.ready || clients.length === 0 || !this.keepsPresence) return;
    this.presenceTable.write(topic, op, clients, performance.now());
  }

  presenceList(topic: string, limit: number): PresenceList {
    this.mustBeUp();
    if (!this.keepsPresence) return this.events.present?.(topic, limit) ?? { count: 0, clients: [] };
    return this.presenceTable.list(topic, limit, performance.now());
  }

  /** The topic, created (a new epoch) when missing; past --max-topics the least recently active unfollowed topic makes room. */
  private obtain(name: string, op: 'publish to' | 'create', now: number): SeqTopic {
    const existing = this.topics.get(name);
    if (existing !== undefined) return existing;
    const topic = this.topics.obtain(name, now);
    if (topic === undefined)
      throw new BrokerTopicLimitError(`cannot ${op} ${name}: ${this.options.maxTopics} topics exist, all with subscribers`);
    if (!this.followed.has(name)) this.topics.rest(topic, now);
    return topic;
  }

  /** Drops unfollowed topics idle past --history-ttl and expired presence, a bounded number per tick. */
  private sweep(now: number): void {
    this.topics.sweep(now, SWEEP_BATCH);
    this.presenceTable.sweep(now, SWEEP_BATCH);
  }

  private mustBeUp(): void {
    if (this.state !== 'up') throw new BrokerUnavailableError(`the broker is ${this.state === 'stopped' ? 'stopped' : 'not started'}`);
  }
}
