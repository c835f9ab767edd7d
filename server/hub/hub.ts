// The pub/sub hub: connections, topics, seq, history, presence, and the v1 request handlers.
// A publish encodes its msg frame once and hands the transport the topic's membership view:
// nothing is serialized, allocated or looped over per subscriber here.
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { allowed } from '../auth/permissions.js';
import type { Config } from '../config.js';
import type { Metrics } from '../metrics.js';
import { encodeAck, encodeAckParts, encodeErr, encodeMsg, encodePresenceEvent, encodePresenceSync, jsonAscii } from '../protocol/encode.js';
import type { DeflateOptions } from '../protocol/deflate.js';
import { closeCodes, type ErrorCode } from '../protocol/errors.js';
import { parseRequest, type Id, type Request } from '../protocol/request.js';
import { CONN_SLOT_MASK, type ConnectionInfo, type Transport } from '../transport/types.js';
import { Conn } from './conn.js';
import type { Page, Retained } from './history.js';
import { IdempotencyStore } from './idempotency.js';
import { PresenceFeed } from './presence-feed.js';
import { RateLimiter } from './rate-limit.js';
import type { Topic } from './topic.js';
import { TopicStore } from './topics.js';

/** Presence lists at most this many clients; `count` is always exact. */
export const PRESENCE_LIST_LIMIT = 1000;
/** A history ack carries at most this many messages (and `limit` at most this). */
export const HISTORY_PAGE_LIMIT = 1000;

/** setTimeout's longest delay; longer expiries are re-armed in steps. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** `duplicate`: the idempotency key was seen within --idempotency-ttl; seq is the first publish's, nothing was delivered. */
export type PublishResult = { ok: true; seq: number; subscribers: number; duplicate: boolean } | { ok: false; code: ErrorCode; msg: string };

/** What one history ack or one sub replay may carry: a quarter of --max-outbound (bytes), at least one message. */
export function replyBudget(config: Config): number {
  return Math.floor(config.maxOutbound / 4);
}

export class Hub {
  /** connections by slot (CONN_SLOT_MASK of the id): an array, not a Map, to stay small per connection */
  private readonly conns: (Conn | undefined)[] = [];
  private liveConns = 0;
  /** open connections that negotiated permessage-deflate: while none, nothing is compressed */
  private deflateConns = 0;
  /** --permessage-deflate on: the threshold and level of the once-per-publish compression */
  private readonly deflate: DeflateOptions | undefined;
  private readonly topics: TopicStore;
  private readonly budget: number;
  private readonly bootId = randomBytes(4).toString('hex');
  private epochCounter = 0;
  private clientCounter = 0;
  private pendingPublishStarts: number[] = [];
  private sweepTimer: NodeJS.Timeout | undefined;
  private readonly keys: IdempotencyStore;
  /** presence feeds with a presence_sync timer armed, so stop() can disarm them */
  private readonly armedFeeds = new Set<PresenceFeed>();
  transport!: Transport;

  constructor(
    private readonly config: Config,
    private readonly metrics: Metrics,
  ) {
    this.topics = new TopicStore(
      { maxTopics: config.maxTopics, maxHistoryBytes: config.maxHistoryBytes, history: config.history, historyTtlMs: config.historyTtl * 1000 },
      metrics,
      () => `${this.bootId}-${(++this.epochCounter).toString(36)}`,
    );
    metrics.attachStore(() => ({ topics: this.topics.size, historyBytes: this.topics.historyBytes }));
    this.budget = replyBudget(config);
    this.deflate = config.permessageDeflate === 'on' ? { threshold: config.deflateThreshold, level: config.deflateLevel } : undefined;
    this.keys = new IdempotencyStore({ ttlMs: config.idempotencyTtl * 1000, maxKeys: config.maxIdempotencyKeys });
    if (config.historyTtl > 0) {
      const every = Math.min(config.historyTtl * 1000, 10_000);
      this.sweepTimer = setInterval(() => this.topics.sweep(performance.now()), every);
      this.sweepTimer.unref();
    }
  }

  stop(): void {
    clearInterval(this.sweepTimer);
    for (const feed of this.armedFeeds) feed.stop();
    this.armedFeeds.clear();
  }

  get connectionCount(): number {
    return this.liveConns;
  }

  private conn(id: number): Conn | undefined {
    const c = this.conns[id & CONN_SLOT_MASK];
    return c !== undefined && c.id === id ? c : undefined;
  }

  get topicCount(): number {
    return this.topics.size;
  }

  get historyBytes(): number {
    return this.topics.historyBytes;
  }

  // ---- connection lifecycle (called by the transport) ----

  open(id: number, info: ConnectionInfo, deflate = false): void {
    const conn = new Conn(id, ++this.clientCounter, info.user, info.perms, deflate);
    if (deflate) this.deflateConns++;
    const slot = id & CONN_SLOT_MASK;
    while (this.conns.length <= slot) this.conns.push(undefined); // append keeps the array dense
    this.conns[slot] = conn;
    this.liveConns++;
    const { rateLimit, rateLimitBytes } = this.config;
    if (RateLimiter.enabled(rateLimit, rateLimitBytes)) conn.limiter = new RateLimiter(rateLimit, rateLimitBytes, performance.now());
    if (info.expiresAt !== undefined) this.armExpiry(conn, info.expiresAt);
    for (const name of info.topics) {
      const topic = this.obtain(name);
      if (topic !== undefined) this.join(conn, topic);
      else this.err(conn, undefined, 'topic_limit', `cannot subscribe to ${name}: ${this.config.maxTopics} topics exist, all with subscribers`);
    }
  }

  private armExpiry(conn: Conn, expiresAt: number): void {
    const left = expiresAt - Date.now();
    if (left <= 0) return this.shut(conn, closeCodes.tokenExpired.code, closeCodes.tokenExpired.reason);
    conn.expiry = setTimeout(() => this.armExpiry(conn, expiresAt), Math.min(left, MAX_TIMER_MS));
    conn.expiry.unref();
  }

  close(id: number): void {
    const conn = this.conn(id);
    if (conn === undefined) return;
    clearTimeout(conn.expiry);
    for (const topic of conn.topics()) this.leave(conn, topic);
    this.conns[id & CONN_SLOT_MASK] = undefined;
    this.liveConns--;
    if (conn.deflate) this.deflateConns--;
  }

  message(id: number, data: Buffer, isBinary: boolean): void {
    const conn = this.conn(id);
    if (conn === undefined || conn.closing) return;
    this.metrics.messagesIn.inc();
    if (conn.limiter !== undefined && !this.admit(conn, data.length)) return;
    if (isBinary) {
      this.reply(conn, encodeErrCounted(this.metrics, undefined, 'bad_request', 'binary frames are not part of protocol v1; send JSON text'));
      return;
    }
    const parsed = parseRequest(data);
    if (!parsed.ok) {
      this.reply(conn, encodeErrCounted(this.metrics, parsed.err.id, parsed.err.code, parsed.err.msg));
      return;
    }
    this.handle(conn, parsed.req);
  }

  /** Handling this connection's input threw: close it with 1011 and ignore what it sends next. */
  fail(id: number): void {
    const conn = this.conn(id);
    if (conn !== undefined && !conn.closing) this.shut(conn, closeCodes.internalError.code, closeCodes.internalError.reason);
  }

  private shut(conn: Conn, code: number, reason: string): void {
    conn.closing = true;
    this.transport.close(conn.id, code, reason);
  }

  /** Applies the connection's rate limits; false when the message is refused. */
  private admit(conn: Conn, size: number): boolean {
    const verdict = conn.limiter!.check(size, performance.now());
    if (verdict === 'ok') return true;
    if (verdict === 'abusive') {
      this.metrics.rateLimitCloses.inc();
      this.shut(conn, closeCodes.policyViolation.code, 'rate limit exceeded');
      return false;
    }
    this.metrics.rateLimited.inc();
    this.err(conn, undefined, 'rate_limited', 'message rate limit exceeded; slow down');
    return false;
  }

  /** Called by the transport after each per-turn flush. */
  flushed(): void {
    if (this.pendingPublishStarts.length === 0) return;
    const now = performance.now();
    for (const t of this.pendingPublishStarts) this.metrics.publishToWrite.observe((now - t) / 1000);
    this.pendingPublishStarts = [];
  }

  // ---- publishing ----

  /**
   * Publishes `data` (verbatim JSON bytes) to `topicName`; `exclude` skips one connection. A `key`
   * seen on this topic within --idempotency-ttl returns the first seq and delivers nothing.
   */
  publish(topicName: string, data: Uint8Array, exclude = -1, source: 'ws' | 'http' = 'http', key?: string): PublishResult {
    const start = performance.now();
    if (key !== undefined) {
      const first = this.keys.seen(topicName, key, start);
      if (first !== undefined) {
        this.metrics.duplicatePublishes.inc();
        return { ok: true, seq: first, subscribers: 0, duplicate: true };
      }
    }
    const topic = this.obtain(topicName);
    if (topic === undefined) return { ok: false, code: 'topic_limit', msg: `cannot publish to ${topicName}: ${this.config.maxTopics} topics exist, all with subscribers` };
    const seq = ++topic.seq;
    if (key !== undefined) this.keys.remember(topicName, key, seq, start);
    // compressed once here, for every subscriber that negotiated permessage-deflate (and replays)
    const msg = encodeMsg(topic.json, seq, data, this.deflateConns > 0 ? this.deflate : undefined);
    this.topics.retain(topic, { seq, frame: msg.frame, compressed: msg.compressed, dataStart: msg.dataStart, dataEnd: msg.dataEnd });
    this.topics.touch(topic, start);
    const receivers = topic.members.count === 0 ? 0 : this.transport.fanout(topic.members.view(), msg.frame, exclude, msg.compressed);
    this.metrics.publishes.inc({ source });
    if (receivers > 0) {
      this.metrics.deliveries.inc(receivers);
      this.metrics.bytesOut.inc(receivers * msg.frame.length);
      this.pendingPublishStarts.push(start);
    }
    if (topic.members.count === 0) this.topics.vacated(topic, start);
    return { ok: true, seq, subscribers: receivers, duplicate: false };
  }

  // ---- request handlers ----

  private handle(conn: Conn, req: Request): void {
    switch (req.op) {
      case 'sub': return this.onSub(conn, req);
      case 'unsub': return this.onUnsub(conn, req.id, req.topic);
      case 'pub': {
        if (!allowed(conn.perms, 'pub', req.topic)) return this.forbidden(conn, req.id, 'publishing to', req.topic);
        const r = this.publish(req.topic, req.data, req.echo ? -1 : conn.id, 'ws', req.key);
        if (!r.ok) return this.err(conn, req.id, r.code, r.msg);
        const dup = r.duplicate ? ',"duplicate":true' : '';
        if (req.id !== undefined) this.reply(conn, encodeAck(req.id, `"topic":${jsonAscii(req.topic)},"seq":${r.seq},"subscribers":${r.subscribers}${dup}`));
        return;
      }
      case 'ping':
        if (req.id !== undefined) this.reply(conn, encodeAck(req.id, ''));
        return;
      case 'history':
        if (!allowed(conn.perms, 'sub', req.topic)) return this.forbidden(conn, req.id, 'reading', req.topic);
        return this.onHistory(conn, req.id, req.topic, req.since, req.limit);
      case 'presence':
        if (!allowed(conn.perms, 'sub', req.topic)) return this.forbidden(conn, req.id, 'reading', req.topic);
        return this.onPresence(conn, req.id, req.topic);
    }
  }

  private onSub(conn: Conn, req: Extract<Request, { op: 'sub' }>): void {
    if (!allowed(conn.perms, 'sub', req.topic)) return this.forbidden(conn, req.id, 'subscribing to', req.topic);
    let topic = this.topics.get(req.topic);
    if (topic === undefined || conn.indexIn(topic) === undefined) {
      if (conn.subscriptionCount >= this.config.maxTopicsPerConnection) {
        return this.err(conn, req.id, 'too_many_topics', `a connection may hold at most ${this.config.maxTopicsPerConnection} subscriptions`);
      }
      topic = this.obtain(req.topic);
      if (topic === undefined) return this.err(conn, req.id, 'topic_limit', `cannot subscribe to ${req.topic}: ${this.config.maxTopics} topics exist, all with subscribers`);
      this.join(conn, topic);
    }
    if (req.presence) this.watch(conn, topic);
    // Ack, replay and membership happen in one synchronous step: no live publish can fall
    // between the replayed messages and the first live one (no gap, no duplicate).
    const recovery = req.since === undefined ? undefined : this.recover(topic, req.since, req.epoch);
    if (req.id !== undefined) {
      const recovered = recovery === undefined ? '' : `,"recovered":${recovery.recovered}`;
      const client = req.presence ? `,"client":${jsonAscii(this.clientId(conn))}` : '';
      this.reply(conn, encodeAck(req.id, `"topic":${topic.json},"seq":${topic.seq},"epoch":${jsonAscii(topic.epoch)}${recovered}${client}`));
    }
    if (recovery === undefined) return;
    if (recovery.cut) this.metrics.repliesCut.inc({ op: 'sub' });
    for (const m of recovery.messages) if (!this.reply(conn, conn.deflate && m.compressed !== undefined ? m.compressed : m.frame)) return;
  }

  private onUnsub(conn: Conn, id: Id, name: string): void {
    const topic = this.topics.get(name);
    if (topic === undefined || conn.indexIn(topic) === undefined) return this.err(conn, id, 'not_subscribed', `not subscribed to ${name}`);
    this.leave(conn, topic);
    if (id !== undefined) this.reply(conn, encodeAck(id, `"topic":${topic.json}`));
  }

  private onHistory(conn: Conn, id: Id, name: string, since: number, limit: number): void {
    if (id === undefined) return; // a history request without an id has nowhere to be answered
    const topic = this.topics.get(name);
    if (topic === undefined) {
      // a read never creates a topic: one that does not exist has seq 0 and no epoch
      const recovered = since === 0;
      return void this.reply(conn, encodeAck(id, `"topic":${jsonAscii(name)},"seq":0,"epoch":null,"recovered":${recovered},"messages":[],"more":false`));
    }
    const { recovered, from } = this.position(topic, since, undefined);
    // sized before anything is encoded: each message costs {"seq":S,"data":D} and a comma, at
    // most 34 bytes around its data (S has at most 16 digits)
    const page: Page = topic.history.oldestFirst(from, this.budget, Math.min(limit, HISTORY_PAGE_LIMIT), (m) => m.dataEnd - m.dataStart + 34);
    if (page.more) this.metrics.repliesCut.inc({ op: 'history' });
    const parts: (string | Uint8Array)[] = [`"topic":${topic.json},"seq":${topic.seq},"epoch":${jsonAscii(topic.epoch)},"recovered":${recovered},"messages":[`];
    page.messages.forEach((m, i) => {
      parts.push(`${i === 0 ? '' : ','}{"seq":${m.seq},"data":`, m.frame.subarray(m.dataStart, m.dataEnd), '}');
    });
    parts.push(`],"more":${page.more}`);
    this.reply(conn, encodeAckParts(id, parts));
  }

  private onPresence(conn: Conn, id: Id, name: string): void {
    if (id === undefined) return;
    const topic = this.topics.get(name);
    const ids = topic?.members.view() ?? new Uint32Array(0);
    const listed = Math.min(ids.length, PRESENCE_LIST_LIMIT);
    const clients: string[] = new Array(listed);
    for (let i = 0; i < listed; i++) {
      const member = this.conn(ids[i]!)!;
      clients[i] = `{"client":${jsonAscii(this.clientId(member))},"user":${JSON.stringify(member.user)}}`;
    }
    const truncated = ids.length > listed ? ',"truncated":true' : '';
    const body = `"topic":${jsonAscii(name)},"count":${ids.length}${truncated},"clients":[${clients.join(',')}]`;
    this.reply(conn, encodeAckUtf8(id, body));
  }

  // ---- recovery ----

  /**
   * Where a client at `since` (of `epoch`) resumes: after `from`, and whether that is without a
   * gap. A position of another incarnation of the topic, or older than what is retained, resumes
   * at the oldest retained message.
   */
  private position(topic: Topic, since: number, epoch: string | undefined): { recovered: boolean; from: number } {
    if ((epoch !== undefined && epoch !== topic.epoch) || since > topic.seq) return { recovered: false, from: 0 };
    if (since === topic.seq) return { recovered: true, from: since };
    const oldest = topic.history.oldestSeq();
    if (oldest === undefined || since + 1 < oldest) return { recovered: false, from: 0 };
    return { recovered: true, from: since };
  }

  /**
   * The replay of a sub with `since`: retained messages after the client's position, joined to
   * the live stream without a gap. When they do not all fit the reply bound, only the newest that
   * fit are replayed and `recovered` is false (the rest can be read with `history`).
   */
  private recover(topic: Topic, since: number, epoch: string | undefined): { recovered: boolean; messages: Retained[]; cut: boolean } {
    const { recovered, from } = this.position(topic, since, epoch);
    const page = topic.history.newestFirst(from, this.budget, HISTORY_PAGE_LIMIT, (m) => m.frame.length);
    return { recovered: recovered && !page.more, messages: page.messages, cut: page.more };
  }

  // ---- membership ----

  private obtain(name: string): Topic | undefined {
    const topic = this.topics.obtain(name, performance.now());
    if (topic === undefined) this.metrics.topicLimitRefusals.inc();
    return topic;
  }

  private join(conn: Conn, topic: Topic): void {
    if (conn.indexIn(topic) !== undefined) return;
    conn.setIndex(topic, topic.members.add(conn.id));
    this.topics.occupied(topic);
    this.announce('join', conn, topic);
  }

  private leave(conn: Conn, topic: Topic): void {
    const index = conn.indexIn(topic);
    if (index === undefined) return;
    this.unwatch(conn, topic);
    const moved = topic.members.removeAt(index);
    if (moved !== -1) this.conn(moved)!.setIndex(topic, index);
    conn.deleteIndex(topic);
    this.announce('leave', conn, topic);
    if (topic.members.count === 0) {
      topic.members.compact();
      this.topics.vacated(topic, performance.now());
    }
  }

  // ---- presence events ----

  /** The presence client id: unique for the server's lifetime. */
  private clientId(conn: Conn): string {
    return `c${this.bootId}-${conn.serial.toString(36)}`;
  }

  /** `conn` receives join/leave events of `topic` (it is a member). */
  private watch(conn: Conn, topic: Topic): void {
    if (conn.watching?.has(topic) === true) return;
    topic.feed ??= new PresenceFeed(this.config.presenceEvents);
    (conn.watching ??= new Map()).set(topic, topic.feed.watchers.add(conn.id));
  }

  private unwatch(conn: Conn, topic: Topic): void {
    const index = conn.watching?.get(topic);
    if (index === undefined) return;
    const feed = topic.feed!;
    const moved = feed.watchers.removeAt(index);
    if (moved !== -1) this.conn(moved)!.watching!.set(topic, index);
    conn.watching!.delete(topic);
    if (conn.watching!.size === 0) conn.watching = undefined;
    if (feed.watchers.count === 0) {
      feed.stop();
      this.armedFeeds.delete(feed);
      topic.feed = undefined;
    }
  }

  /** One join/leave event to the topic's watchers but `conn`, within --presence-events per second. */
  private announce(op: 'join' | 'leave', conn: Conn, topic: Topic): void {
    const feed = topic.feed;
    if (feed === undefined || feed.watchers.count === 0) return;
    const now = performance.now();
    if (feed.admit(now)) {
      this.transport.fanout(feed.watchers.view(), encodePresenceEvent(op, topic.json, this.clientId(conn), conn.user), conn.id);
      return;
    }
    if (feed.syncTimer !== undefined) return;
    this.armedFeeds.add(feed);
    feed.syncTimer = setTimeout(() => {
      feed.syncTimer = undefined;
      this.armedFeeds.delete(feed);
      const dropped = feed.dropped;
      feed.dropped = 0;
      this.metrics.presenceEventsDropped.inc(dropped);
      if (topic.feed !== feed || feed.watchers.count === 0) return;
      this.transport.fanout(feed.watchers.view(), encodePresenceSync(topic.json, topic.members.count, dropped), -1);
    }, feed.windowLeft(now) + 1);
    feed.syncTimer.unref();
  }

  // ---- replies ----

  /** Queues a frame; false when the connection is closing (past --max-outbound, or gone): its further requests are ignored. */
  private reply(conn: Conn, frame: Buffer): boolean {
    if (conn.closing) return false;
    if (this.transport.send(conn.id, frame)) return true;
    conn.closing = true;
    return false;
  }

  private forbidden(conn: Conn, id: Id, what: string, topic: string): void {
    this.err(conn, id, 'forbidden', `token does not allow ${what} ${topic}`);
  }

  private err(conn: Conn, id: Id, code: ErrorCode, msg: string): void {
    if (conn.closing) return;
    this.reply(conn, encodeErrCounted(this.metrics, id, code, msg));
  }
}

function encodeErrCounted(metrics: Metrics, id: Id, code: ErrorCode, msg: string): Buffer {
  metrics.protocolErrors.inc({ code });
  return encodeErr(id, code, msg);
}

/** An ack whose fields may hold non-ASCII text (user ids), written as UTF-8. */
function encodeAckUtf8(id: string, body: string): Buffer {
  return encodeAckParts(id, [Buffer.from(body, 'utf8')]);
}
