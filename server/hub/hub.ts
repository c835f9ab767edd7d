// The pub/sub hub: connections, topic copies and their members, publishing and delivery. A
// message is encoded once (by the in-process broker, or here) and the transport gets the topic's
// membership view: nothing is serialized, allocated or looped over per subscriber here. The
// request handlers are requests.ts's.
//
// The hub numbers nothing itself: a publish goes to its broker (broker/types.ts), and messages
// come back through the replica of the broker's topics (replica.ts), which keeps their order.
// The in-process broker of a single process answers and delivers in the call, so there the
// whole of a request is still one synchronous step; Redis and the main thread of --workers
// answer later. Join and leave events are presence.ts's. (Just over ~450 lines: connections,
// topic copies and delivery share the conns array and the membership indexes.)
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import {
  BrokerTopicLimitError,
  type Answer,
  type BrokerEvents,
  type PresenceList,
  type Published,
  type SharedBroker,
  type SharedFrames,
} from '../broker/types.js';
import type { Config } from '../config.js';
import type { Metrics } from '../metrics.js';
import { encodeMsg } from '../protocol/encode.js';
import { deflateOptions, type DeflateOptions } from '../protocol/deflate.js';
import { closeCodes, type ErrorCode } from '../protocol/errors.js';
import { parseRequest, type Id } from '../protocol/request.js';
import { CONN_SLOT_MASK, type ConnectionInfo, type Transport } from '../transport/types.js';
import type { InFlight } from './admission.js';
import { Conn } from './conn.js';
import { Presence } from './presence.js';
import { RateLimiter } from './rate-limit.js';
import { Replica, type ReplicaHub } from './replica.js';
import { brokerTrouble, encodeErrCounted, messageOf } from './replies.js';
import { Requests, type PublishResult } from './requests.js';
import { Topic } from './topic.js';
import { TopicStore } from './topics.js';

export { HISTORY_PAGE_LIMIT, PRESENCE_LIST_LIMIT, type PublishResult } from './requests.js';

/** setTimeout's longest delay; longer expiries are re-armed in steps. */
const MAX_TIMER_MS = 2 ** 31 - 1;
/**
 * How long a topic without local subscribers keeps its copy and its channel followed (a quick
 * resubscribe keeps both), at most --history-ttl; its history stays in the broker.
 */
const FOLLOW_LINGER_MS = 5000;
/** Publish bytes the whole node may have waiting for the broker, in --max-outbound units. */
const NODE_IN_FLIGHT_OUTBOUNDS = 16;

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
  /** bytes one read of a topic's copy (sync, catch-up, resync) may bring */
  private readonly copyBudget: number;
  private readonly bootId = randomBytes(4).toString('hex');
  private clientCounter = 0;
  private pendingPublishStarts: number[] = [];
  private sweepTimer: NodeJS.Timeout | undefined;
  /** join and leave events, and the broker's record of them (presence.ts) */
  private readonly presence: Presence;
  /** bytes of publishes sent to the broker and not yet answered, over all connections and HTTP */
  private publishBytesInFlight = 0;
  /** client requests waiting for the broker over every connection (one Ticket each) */
  private readonly inFlight: InFlight = { inFlight: 0, inFlightBytes: 0 };
  /** the replica of the topics the broker numbers (replica.ts) */
  private readonly replica: Replica;
  /** the v1 request handlers (requests.ts) */
  private readonly requests: Requests;
  /** why the last sync failed: obtain() tells it when the broker refused in the call */
  private syncRefusal: { code: ErrorCode; msg: string } | undefined;
  transport!: Transport;

  constructor(
    private readonly config: Config,
    private readonly metrics: Metrics,
    /** the broker that numbers every topic: in this process (memory.ts), Redis, or the main thread's */
    private readonly broker: SharedBroker,
  ) {
    // a topic without local subscribers is only a copy: it lingers briefly (a quick resubscribe
    // keeps its channel) and its history stays in the broker. Not with a broker whose store is in
    // this thread: syncing again is a call, and a copy followed for nobody would keep the broker
    // from evicting its topic to make room (--max-topics)
    const historyTtlMs = broker.store !== undefined ? 0 : Math.min(FOLLOW_LINGER_MS, config.historyTtl * 1000);
    // an in-process broker's store is the server's (bounded by --max-topics and
    // --max-history-bytes): /metrics shows it and counts its evictions, not these copies
    const copies = broker.inProcess;
    this.topics = new TopicStore(
      { maxTopics: config.maxTopics, maxHistoryBytes: config.maxHistoryBytes, history: config.history, historyTtlMs },
      metrics,
      () => '',
      (topic) => this.replica.forget(topic),
      !copies,
    );
    if (!copies) metrics.attachStore(() => this.topics);
    metrics.attachInFlight(() => this.inFlight);
    this.budget = replyBudget(config);
    this.copyBudget = 4 * this.budget;
    this.deflate = deflateOptions(config);
    this.presence = new Presence(config, metrics, broker, this.bootId, {
      topics: this.topics,
      conn: (id) => this.conn(id),
      fanout: (ids, frame, exclude) => void this.transport.fanout(ids, frame, exclude),
    });
    this.replica = new Replica(broker, this.replicaHub(), metrics);
    this.requests = new Requests({
      config,
      metrics,
      broker,
      topics: this.topics,
      presence: this.presence,
      replica: this.replica,
      budget: this.budget,
      inFlight: this.inFlight,
      publish: (topic, data, exclude, source, key) => this.publish(topic, data, exclude, source, key),
      reply: (conn, frame) => this.reply(conn, frame),
      err: (conn, id, code, msg) => this.err(conn, id, code, msg),
      obtain: (name) => this.obtain(name),
      join: (conn, topic) => this.join(conn, topic),
      leave: (conn, topic) => this.leave(conn, topic),
      brokerDown: () => this.brokerDown(),
      log: (op, topic, err) => this.log(op, topic, err),
    });
    if (historyTtlMs > 0) {
      this.sweepTimer = setInterval(() => this.topics.sweep(performance.now()), Math.min(historyTtlMs, 1000));
      this.sweepTimer.unref();
    }
  }

  /** The broker's view of this hub: what it delivers and asks. */
  brokerEvents(): BrokerEvents {
    return this.replica.events();
  }

  /** What the replica of the broker's topics needs of this hub. */
  private replicaHub(): ReplicaHub {
    return {
      topics: this.topics,
      history: this.config.history,
      copyBudget: this.copyBudget,
      deliver: (topic, seq, data, exclude, start, frames) => this.deliver(topic, seq, data, exclude, start, frames),
      tell: (topic, frame) => {
        if (topic.members.count > 0) this.transport.fanout(topic.members.view(), frame, -1);
      },
      deflateNow: () => (this.deflateConns > 0 ? this.deflate : undefined),
      syncFailed: (topic, err) => this.syncFailed(topic, err),
      presence: (topic, op, client, user) => this.presence.announce(op, topic, client, user, -1),
      present: (name, limit) => this.present(name, limit),
      refreshPresence: () => this.presence.refresh(true),
      log: (op, topic, err) => this.log(op, topic, err),
    };
  }

  /** Starts the broker's periodic presence refresh (call once the broker is up). */
  startPresenceRefresh(): void {
    this.presence.startRefresh();
  }

  stop(): void {
    clearInterval(this.sweepTimer);
    this.presence.stop();
  }

  get connectionCount(): number {
    return this.liveConns;
  }

  private conn(id: number): Conn | undefined {
    const c = this.conns[id & CONN_SLOT_MASK];
    return c !== undefined && c.id === id ? c : undefined;
  }

  /** Topics the server holds: the in-process broker's store, else this hub's copies. */
  get topicCount(): number {
    return (this.broker.store ?? this.topics).size;
  }

  get historyBytes(): number {
    return (this.broker.store ?? this.topics).historyBytes;
  }

  // ---- connection lifecycle (called by the transport) ----

  open(id: number, info: ConnectionInfo, deflate = false): void {
    const conn = new Conn(id, ++this.clientCounter, info.user, info.perms, deflate);
    if (deflate && this.deflateConns++ === 0) this.broker.deflating?.(true);
    const slot = id & CONN_SLOT_MASK;
    while (this.conns.length <= slot) this.conns.push(undefined); // append keeps the array dense
    this.conns[slot] = conn;
    this.liveConns++;
    const { rateLimit, rateLimitBytes } = this.config;
    if (RateLimiter.enabled(rateLimit, rateLimitBytes)) conn.limiter = new RateLimiter(rateLimit, rateLimitBytes, performance.now());
    if (info.expiresAt !== undefined) this.armExpiry(conn, info.expiresAt);
    for (const name of info.topics) {
      if (!this.broker.ready) {
        this.err(conn, undefined, 'unavailable', `cannot subscribe to ${name}: ${this.brokerDown()}`);
        continue;
      }
      const topic = this.obtain(name);
      if (!(topic instanceof Topic)) {
        this.err(conn, undefined, topic.code, `cannot subscribe to ${name}: ${topic.msg}`);
        continue;
      }
      this.join(conn, topic);
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
    conn.closing = true; // an answer still on its way from the broker is not sent
    this.liveConns--;
    if (conn.deflate && --this.deflateConns === 0) this.broker.deflating?.(false);
  }

  message(id: number, data: Buffer, isBinary: boolean): void {
    const conn = this.conn(id);
    if (conn === undefined || conn.closing) return;
    this.metrics.messagesIn.inc();
    if (conn.limiter !== undefined && !this.admit(conn, data)) return;
    if (isBinary) {
      this.reply(
        conn,
        encodeErrCounted(this.metrics, undefined, 'bad_request', 'binary frames are not part of protocol v1; send JSON text'),
      );
      return;
    }
    const parsed = parseRequest(data);
    if (!parsed.ok) {
      this.reply(conn, encodeErrCounted(this.metrics, parsed.err.id, parsed.err.code, parsed.err.msg));
      return;
    }
    this.requests.handle(conn, parsed.req);
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
  private admit(conn: Conn, data: Buffer): boolean {
    const verdict = conn.limiter!.check(data.length, performance.now());
    if (verdict === 'ok') return true;
    if (verdict === 'abusive') {
      this.metrics.rateLimitCloses.inc();
      this.shut(conn, closeCodes.policyViolation.code, 'rate limit exceeded');
      return false;
    }
    this.metrics.rateLimited.inc();
    // answered with the request's id, so a client knows which request was dropped and can send
    // it again (an unanswered unsub would leave it subscribed); the scan costs what receiving
    // the message did, and --rate-limit-bytes bounds both
    const parsed = parseRequest(data);
    const id = parsed.ok ? parsed.req.id : parsed.err.id;
    this.err(conn, id, 'rate_limited', 'message rate limit exceeded; slow down');
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
   * Publishes `data` (verbatim JSON bytes) to `topic` through the broker; `exclude` skips one
   * connection. A `key` seen on this topic within --idempotency-ttl returns the first seq and
   * delivers nothing. Answered in the call by the in-process broker (its subscribers here got
   * the message first), later by one that answers later.
   */
  publish(
    topic: string,
    data: Uint8Array,
    exclude = -1,
    source: 'ws' | 'http' = 'http',
    key?: string,
  ): PublishResult | Promise<PublishResult> {
    const broker = this.broker;
    if (!broker.ready) return { ok: false, code: 'unavailable', msg: `cannot publish: ${this.brokerDown()}` };
    // the node's whole backlog toward the broker is bounded too (many connections, HTTP included)
    const backlog = NODE_IN_FLIGHT_OUTBOUNDS * this.config.maxOutbound;
    if (this.publishBytesInFlight > 0 && this.publishBytesInFlight + data.length > backlog) {
      return {
        ok: false,
        code: 'unavailable',
        msg: `cannot publish: ${backlog} bytes of publishes are waiting for the broker; retry later`,
      };
    }
    this.publishBytesInFlight += data.length;
    // a publisher that is not subscribed excludes nobody (the broker may count receivers)
    const subscribed = exclude === -1 ? undefined : this.topics.get(topic);
    if (subscribed === undefined || this.conn(exclude)?.indexIn(subscribed) === undefined) exclude = -1;
    const done = (r: Published): PublishResult => {
      this.publishBytesInFlight -= data.length;
      if (r.duplicate) this.metrics.duplicatePublishes.inc();
      else this.metrics.publishes.inc({ source });
      return { ok: true, seq: r.seq, subscribers: r.nodes, duplicate: r.duplicate };
    };
    const refused = (err: unknown): PublishResult => {
      this.publishBytesInFlight -= data.length;
      if (err instanceof BrokerTopicLimitError) {
        this.metrics.topicLimitRefusals.inc();
        return { ok: false, code: 'topic_limit', msg: err.message };
      }
      return { ok: false, code: 'unavailable', msg: `cannot publish: ${brokerTrouble(err)}` };
    };
    let answer: Answer<Published>;
    try {
      answer = broker.publish(topic, data, exclude, key);
    } catch (err) {
      return refused(err);
    }
    return answer instanceof Promise ? answer.then(done, refused) : done(answer);
  }

  /**
   * Message `seq` of `topic` to its local subscribers but `exclude`: encoded (and compressed, for
   * the subscribers that negotiated permessage-deflate) once, retained, fanned out.
   */
  private deliver(topic: Topic, seq: number, data: Uint8Array, exclude: number, start = performance.now(), frames?: SharedFrames): number {
    topic.seq = seq;
    const deflate = this.deflateConns > 0 ? this.deflate : undefined;
    // frames made once for every worker serve as they are, unless they lack a compressed twin this hub needs
    const msg = frames !== undefined && (deflate === undefined || frames.deflated) ? frames : encodeMsg(topic.json, seq, data, deflate);
    this.topics.retain(topic, { seq, frame: msg.frame, compressed: msg.compressed, dataStart: msg.dataStart, dataEnd: msg.dataEnd });
    this.topics.touch(topic, start);
    const receivers = topic.members.count === 0 ? 0 : this.transport.fanout(topic.members.view(), msg.frame, exclude, msg.compressed);
    if (receivers > 0) {
      this.metrics.deliveries.inc(receivers);
      this.metrics.bytesOut.inc(receivers * msg.frame.length);
      this.pendingPublishStarts.push(start);
    }
    if (topic.members.count === 0) this.topics.vacated(topic, start);
    return receivers;
  }

  // ---- membership ----

  /** A topic's members here as presence: all of them counted, the first `limit` listed. */
  private present(name: string, limit: number): PresenceList {
    const ids = this.topics.get(name)?.members.view() ?? new Uint32Array(0);
    const listed = Math.min(ids.length, limit);
    const clients: { client: string; user: string }[] = new Array(listed);
    for (let i = 0; i < listed; i++) {
      const member = this.conn(ids[i]!)!;
      clients[i] = { client: this.presence.clientId(member), user: member.user };
    }
    return { count: ids.length, clients };
  }

  /**
   * The topic's copy, made and synced with the broker when missing (live at once when the broker
   * answers in the call); a refusal when --max-topics topics here all have members, or the
   * broker refused at once.
   */
  private obtain(name: string): Topic | { code: ErrorCode; msg: string } {
    const existing = this.topics.get(name);
    if (existing !== undefined) return existing;
    const topic = this.topics.obtain(name, performance.now());
    if (topic === undefined) {
      this.metrics.topicLimitRefusals.inc();
      return { code: 'topic_limit', msg: `${this.config.maxTopics} topics exist, all with subscribers` };
    }
    this.syncRefusal = undefined;
    void this.replica.sync(topic);
    // refused in the call (the in-process broker at its --max-topics): told by the caller
    if (topic.dropped) return this.syncRefusal ?? { code: 'unavailable', msg: 'the broker refused it' };
    return topic;
  }

  private join(conn: Conn, topic: Topic): void {
    if (conn.indexIn(topic) !== undefined) return;
    conn.setIndex(topic, topic.members.add(conn.id));
    this.topics.occupied(topic);
    this.broker.members?.(topic.name, topic.members.count);
    this.presence.present('join', conn, topic);
  }

  private leave(conn: Conn, topic: Topic): void {
    const index = conn.indexIn(topic);
    if (index === undefined) return;
    this.presence.unwatch(conn, topic);
    const moved = topic.members.removeAt(index);
    if (moved !== -1) this.conn(moved)!.setIndex(topic, index);
    conn.deleteIndex(topic);
    this.broker.members?.(topic.name, topic.members.count);
    this.presence.present('leave', conn, topic);
    if (topic.members.count === 0) {
      topic.members.compact();
      this.topics.vacated(topic, performance.now());
    }
  }

  // ---- the broker ----

  /**
   * A topic that could not be synced: its subscribers are told (a waiting sub by its id) and it is
   * dropped. The broker at its --max-topics (every worker's topics together) refuses as the hub's
   * own store does: topic_limit.
   */
  private syncFailed(topic: Topic, err: unknown): void {
    const limit = err instanceof BrokerTopicLimitError;
    if (limit) this.metrics.topicLimitRefusals.inc();
    const code: ErrorCode = limit ? 'topic_limit' : 'unavailable';
    this.syncRefusal = { code, msg: brokerTrouble(err) };
    const msg = `subscription to ${topic.name} failed: ${brokerTrouble(err)}`;
    const ids = new Map<number, Id[]>();
    for (const w of topic.waiting.splice(0)) ids.set(w.conn, [...(ids.get(w.conn) ?? []), w.id]);
    for (const id of [...topic.members.view()]) {
      const conn = this.conn(id);
      if (conn === undefined) continue;
      this.leave(conn, topic);
      // a ?topics= subscription has no request to answer
      for (const reqId of ids.get(id) ?? [undefined]) this.err(conn, reqId, code, msg);
    }
    this.topics.discard(topic);
  }

  /** Why a request cannot be served now, for the client: the state only; its reason (an address, a host) is for /healthz and the log. */
  private brokerDown(): string {
    return `the broker is ${this.broker.health().state}; retry later`;
  }

  private log(op: string, topic: string, err: unknown): void {
    this.onLog?.({ event: 'broker_topic_error', op, topic, err: messageOf(err) });
  }

  /** Where the hub reports broker trouble on a topic (the server passes its logger). */
  onLog: ((fields: Record<string, unknown>) => void) | undefined;

  // ---- replies ----

  /** Queues a frame; false when the connection is closing (past --max-outbound, or gone): its further requests are ignored. */
  private reply(conn: Conn, frame: Buffer): boolean {
    if (conn.closing) return false;
    if (this.transport.send(conn.id, frame)) return true;
    conn.closing = true;
    return false;
  }

  private err(conn: Conn, id: Id, code: ErrorCode, msg: string): void {
    if (conn.closing) return;
    this.reply(conn, encodeErrCounted(this.metrics, id, code, msg));
  }
}
