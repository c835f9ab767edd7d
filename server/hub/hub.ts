// The pub/sub hub: connections, topics, publishing and delivery, and the v1 request handlers.
// A publish encodes its msg frame once and hands the transport the topic's membership view:
// nothing is serialized, allocated or looped over per subscriber here.
//
// The hub numbers nothing itself: a publish goes to its broker (broker/types.ts), and messages
// come back through the replica of the broker's topics (replica.ts), which keeps their order.
// The in-process broker of a single process answers and delivers in the call, so there the
// whole of a request is still one synchronous step; Redis and the main thread of --workers
// answer later. Join and leave events are presence.ts's.
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { allowed } from '../auth/permissions.js';
import {
  BrokerRefusedError,
  BrokerTimeoutError,
  BrokerTopicLimitError,
  settle,
  andThen,
  type Answer,
  type BrokerEvents,
  type Published,
  type SharedBroker,
  type SharedFrames,
  type TopicState,
} from '../broker/types.js';
import type { Config } from '../config.js';
import type { Metrics } from '../metrics.js';
import { encodeAck, encodeAckParts, encodeErr, encodeMsg, jsonAscii } from '../protocol/encode.js';
import { deflateOptions, type DeflateOptions } from '../protocol/deflate.js';
import { closeCodes, type ErrorCode } from '../protocol/errors.js';
import { parseRequest, type Id, type Request } from '../protocol/request.js';
import { CONN_SLOT_MASK, type ConnectionInfo, type Transport } from '../transport/types.js';
import { Ticket, underTicket, type InFlight } from './admission.js';
import { Conn } from './conn.js';
import type { Page, Retained } from './history.js';
import { Presence } from './presence.js';
import { RateLimiter } from './rate-limit.js';
import { Replica, type ReplicaHub } from './replica.js';
import { Topic } from './topic.js';
import { TopicStore } from './topics.js';

/** Presence lists at most this many clients; `count` is always exact. */
export const PRESENCE_LIST_LIMIT = 1000;
/** A history ack carries at most this many messages (and `limit` at most this). */
export const HISTORY_PAGE_LIMIT = 1000;

/** setTimeout's longest delay; longer expiries are re-armed in steps. */
const MAX_TIMER_MS = 2 ** 31 - 1;
/**
 * How long a topic without local subscribers keeps its copy and its channel followed (a quick
 * resubscribe keeps both), at most --history-ttl; its history stays in the broker.
 */
const FOLLOW_LINGER_MS = 5000;
/** Publish bytes the whole node may have waiting for the broker, in --max-outbound units. */
const NODE_IN_FLIGHT_OUTBOUNDS = 16;
/** Requests one connection may have waiting for a broker that answers later. */
const MAX_IN_FLIGHT = 256;
/** What a presence reply may hold (1000 clients with their user ids), for the in-flight bound. */
const PRESENCE_REPLY_BYTES = 256 * 1024;

/** `duplicate`: the idempotency key was seen within --idempotency-ttl; seq is the first publish's, nothing was delivered. */
export type PublishResult =
  { ok: true; seq: number; subscribers: number; duplicate: boolean } | { ok: false; code: ErrorCode; msg: string };

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
    // keeps its channel) and its history stays in the broker
    const historyTtlMs = Math.min(FOLLOW_LINGER_MS, config.historyTtl * 1000);
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

  // ---- request handlers ----

  private handle(conn: Conn, req: Request): void {
    switch (req.op) {
      case 'sub':
        return this.onSub(conn, req);
      case 'unsub':
        return this.onUnsub(conn, req.id, req.topic);
      case 'pub': {
        if (!allowed(conn.perms, 'pub', req.topic)) return this.forbidden(conn, req.id, 'publishing to', req.topic);
        const publish = () => this.publish(req.topic, req.data, req.echo ? -1 : conn.id, 'ws', req.key);
        const answer = (r: PublishResult) => this.published(conn, req.id, req.topic, r);
        const ticket = this.admitInFlight(conn, req.id, req.data.length);
        if (ticket === undefined) return;
        return underTicket(ticket, publish, answer, (err) => this.failed(conn, req.id, 'publish', req.topic, err));
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

  /**
   * A broker that answers later (Redis, the main thread) makes a request wait, and what it holds
   * meanwhile (a publish's data, a read's reply) must not pile up for a client that sends without
   * waiting: at most
   * MAX_IN_FLIGHT requests and --max-outbound bytes (a read counts its reply bound) per
   * connection; past it the request is refused with rate_limited.
   */
  private admitInFlight(conn: Conn, id: Id, bytes: number): Ticket | undefined {
    if (conn.inFlight >= MAX_IN_FLIGHT || (conn.inFlight > 0 && conn.inFlightBytes + bytes > this.config.maxOutbound)) {
      this.metrics.rateLimited.inc();
      this.err(
        conn,
        id,
        'rate_limited',
        `too many requests waiting for the broker (at most ${MAX_IN_FLIGHT} and ${this.config.maxOutbound} bytes per connection): wait for their answers`,
      );
      return undefined;
    }
    return new Ticket(conn, this.inFlight, bytes);
  }

  /** A request whose broker call failed in a way its handler did not map: logged, answered. */
  private failed(conn: Conn, id: Id, op: string, topic: string, err: unknown): void {
    this.log(op, topic, err);
    this.err(conn, id, 'unavailable', `cannot ${op === 'publish' ? 'publish' : `read ${topic}`}: ${brokerTrouble(err)}`);
  }

  private published(conn: Conn, id: Id, topic: string, r: PublishResult): void {
    if (!r.ok) return this.err(conn, id, r.code, r.msg);
    const dup = r.duplicate ? ',"duplicate":true' : '';
    if (id !== undefined)
      this.reply(conn, encodeAck(id, `"topic":${jsonAscii(topic)},"seq":${r.seq},"subscribers":${r.subscribers}${dup}`));
  }

  private onSub(conn: Conn, req: Extract<Request, { op: 'sub' }>): void {
    if (!allowed(conn.perms, 'sub', req.topic)) return this.forbidden(conn, req.id, 'subscribing to', req.topic);
    if (!this.broker.ready) return this.err(conn, req.id, 'unavailable', `cannot subscribe to ${req.topic}: ${this.brokerDown()}`);
    let topic = this.topics.get(req.topic);
    if (topic === undefined || conn.indexIn(topic) === undefined) {
      if (conn.subscriptionCount >= this.config.maxTopicsPerConnection) {
        return this.err(
          conn,
          req.id,
          'too_many_topics',
          `a connection may hold at most ${this.config.maxTopicsPerConnection} subscriptions`,
        );
      }
      const obtained = this.obtain(req.topic);
      if (!(obtained instanceof Topic)) return this.err(conn, req.id, obtained.code, `cannot subscribe to ${req.topic}: ${obtained.msg}`);
      topic = obtained;
      this.join(conn, topic);
    }
    if (req.presence) this.presence.watch(conn, topic);
    if (topic.phase === 'syncing') {
      // the first subscriber of this topic on this node: answered once the broker's tail is here
      const t = topic;
      t.waiting.push({ conn: conn.id, id: req.id, answer: () => this.subscribed(conn, t, req) });
      return;
    }
    this.subscribed(conn, topic, req);
  }

  /** The ack and replay of a sub, once the topic is current. */
  private subscribed(conn: Conn, topic: Topic, req: Extract<Request, { op: 'sub' }>): void {
    if (conn.closing) return;
    // Ack, replay and membership happen in one synchronous step: no live publish can fall
    // between the replayed messages and the first live one (no gap, no duplicate).
    const recovery = req.since === undefined ? undefined : this.recover(topic, req.since, req.epoch);
    if (req.id !== undefined) {
      const recovered = recovery === undefined ? '' : `,"recovered":${recovery.recovered}`;
      const client = req.presence ? `,"client":${jsonAscii(this.presence.clientId(conn))}` : '';
      // a client told "" (no record yet) that resumed in the first epoch keeps "": nothing changed for it
      const epoch = req.epoch === '' && recovery?.recovered === true && this.replica.firstEpoch(topic) ? '' : topic.epoch;
      this.reply(conn, encodeAck(req.id, `"topic":${topic.json},"seq":${topic.seq},"epoch":${jsonAscii(epoch)}${recovered}${client}`));
    }
    if (recovery === undefined) return;
    if (recovery.cut) this.metrics.repliesCut.inc({ op: 'sub' });
    for (const m of recovery.messages) if (!this.reply(conn, conn.deflate && m.compressed !== undefined ? m.compressed : m.frame)) return;
  }

  private onUnsub(conn: Conn, id: Id, name: string): void {
    const topic = this.topics.get(name);
    if (topic === undefined || conn.indexIn(topic) === undefined) return this.err(conn, id, 'not_subscribed', `not subscribed to ${name}`);
    if (topic.phase === 'syncing') {
      // a sub of this connection still waiting for the broker is answered first, in request order
      topic.waiting = topic.waiting.filter((w) => {
        if (w.conn !== conn.id) return true;
        if (w.id !== undefined) this.err(conn, w.id, 'not_subscribed', `unsubscribed from ${name} before this subscription completed`);
        return false;
      });
    }
    this.leave(conn, topic);
    if (id !== undefined) this.reply(conn, encodeAck(id, `"topic":${topic.json}`));
  }

  private onHistory(conn: Conn, id: Id, name: string, since: number, limit: number): void {
    if (id === undefined) return; // a history request without an id has nowhere to be answered
    const topic = this.topics.get(name);
    if (!this.broker.ready) return this.err(conn, id, 'unavailable', `cannot read ${name}: ${this.brokerDown()}`);
    if (topic === undefined || topic.phase !== 'live') {
      // no current copy here: the broker's history (a read never creates a topic)
      const ticket = this.admitInFlight(conn, id, this.budget);
      if (ticket === undefined) return;
      return underTicket(
        ticket,
        () => this.historyFromBroker(conn, id, name, since, limit),
        () => {},
        (err) => this.failed(conn, id, 'history', name, err),
      );
    }
    const { recovered, from } = this.position(topic, since, undefined);
    // sized before anything is encoded: each message costs {"seq":S,"data":D} and a comma, at
    // most 34 bytes around its data (S has at most 16 digits)
    const page: Page = topic.history.oldestFirst(
      from,
      this.budget,
      Math.min(limit, HISTORY_PAGE_LIMIT),
      (m) => m.dataEnd - m.dataStart + 34,
    );
    if (page.more) this.metrics.repliesCut.inc({ op: 'history' });
    const parts: (string | Uint8Array)[] = [
      `"topic":${topic.json},"seq":${topic.seq},"epoch":${jsonAscii(topic.epoch)},"recovered":${recovered},"messages":[`,
    ];
    page.messages.forEach((m, i) => {
      parts.push(`${i === 0 ? '' : ','}{"seq":${m.seq},"data":`, m.frame.subarray(m.dataStart, m.dataEnd), '}');
    });
    parts.push(`],"more":${page.more}`);
    this.reply(conn, encodeAckParts(id, parts));
  }

  /** A history read from the broker: for a topic this node holds no current copy of. */
  private historyFromBroker(conn: Conn, id: string, name: string, since: number, limit: number): void | Promise<void> {
    const broker = this.broker;
    const count = Math.min(limit, HISTORY_PAGE_LIMIT) + 1; // one more than asked shows whether there is more
    return settle(
      () =>
        andThen(broker.read(name, since, count, false, this.budget), (state) =>
          // a position the broker cannot continue from (later than its seq, of the previous epoch,
          // or older than what it retains) resumes at the oldest retained message
          state.epoch !== null && (since > state.seq || since < state.base || (state.oldest > 0 && since + 1 < state.oldest))
            ? broker.read(name, state.base, count, false, this.budget)
            : state,
        ),
      (state) => this.historyPage(conn, id, name, since, limit, state),
      (err) => this.err(conn, id, 'unavailable', `cannot read ${name}: ${brokerTrouble(err)}`),
    );
  }

  private historyPage(conn: Conn, id: string, name: string, since: number, limit: number, state: TopicState): void {
    if (state.epoch === null) {
      return void this.reply(
        conn,
        encodeAck(id, `"topic":${jsonAscii(name)},"seq":0,"epoch":null,"recovered":${since === 0},"messages":[],"more":false`),
      );
    }
    const base = state.base;
    const recovered = since >= base && (since === state.seq || (since < state.seq && state.oldest > 0 && since + 1 >= state.oldest));
    const parts: (string | Uint8Array)[] = [
      `"topic":${jsonAscii(name)},"seq":${state.seq},"epoch":${jsonAscii(state.epoch)},"recovered":${recovered},"messages":[`,
    ];
    const most = Math.min(limit, HISTORY_PAGE_LIMIT);
    let bytes = 0;
    let listed = 0;
    const messages = state.messages.filter((m) => m.seq > base); // not the previous epoch's
    for (const m of messages) {
      bytes += m.data.length + 34;
      if (listed > 0 && (bytes > this.budget || listed >= most)) break;
      parts.push(`${listed === 0 ? '' : ','}{"seq":${m.seq},"data":`, m.data, '}');
      listed++;
    }
    // the broker's read is itself bounded in bytes: there is more when the page ends before the topic's seq
    const more = listed > 0 && messages[listed - 1]!.seq < state.seq;
    if (more) this.metrics.repliesCut.inc({ op: 'history' });
    parts.push(`],"more":${more}`);
    this.reply(conn, encodeAckParts(id, parts));
  }

  /** Presence from the broker: every node's clients. */
  private onPresence(conn: Conn, id: Id, name: string): void {
    if (id === undefined) return;
    if (!this.broker.ready) return this.err(conn, id, 'unavailable', `cannot read presence of ${name}: ${this.brokerDown()}`);
    const ticket = this.admitInFlight(conn, id, PRESENCE_REPLY_BYTES);
    if (ticket === undefined) return;
    const broker = this.broker;
    return underTicket(
      ticket,
      () =>
        settle(
          () => broker.presenceList(name, PRESENCE_LIST_LIMIT),
          (list) => {
            const clients = list.clients.map((c) => `{"client":${jsonAscii(c.client)},"user":${JSON.stringify(c.user)}}`);
            const truncated = list.count > clients.length ? ',"truncated":true' : '';
            const body = `"topic":${jsonAscii(name)},"count":${list.count}${truncated},"clients":[${clients.join(',')}]`;
            this.reply(conn, encodeAckUtf8(id, body));
          },
          (err) => this.err(conn, id, 'unavailable', `cannot read presence of ${name}: ${brokerTrouble(err)}`),
        ),
      () => {},
      (err) => this.failed(conn, id, 'presence', name, err),
    );
  }

  // ---- recovery ----

  /**
   * Where a client at `since` (of `epoch`) resumes: after `from`, and whether that is without a
   * gap. A position of another incarnation of the topic, or older than what is retained, resumes
   * at the oldest retained message.
   */
  private position(topic: Topic, since: number, epoch: string | undefined): { recovered: boolean; from: number } {
    if (epoch === '' && this.replica.firstEpoch(topic)) epoch = topic.epoch; // subscribed before the first publish
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

  private forbidden(conn: Conn, id: Id, what: string, topic: string): void {
    this.err(conn, id, 'forbidden', `token does not allow ${what} ${topic}`);
  }

  private err(conn: Conn, id: Id, code: ErrorCode, msg: string): void {
    if (conn.closing) return;
    this.reply(conn, encodeErrCounted(this.metrics, id, code, msg));
  }
}

/**
 * What a client is told of a broker error. Only texts the server wrote itself (a topic limit, a
 * timeout) and Redis's own error replies (OOM: they name no address) pass; anything else (a socket error naming Redis's address, a Redis reply) stays in
 * the log, the metrics and /healthz.
 */
function brokerTrouble(err: unknown): string {
  if (err instanceof BrokerTopicLimitError || err instanceof BrokerTimeoutError || err instanceof BrokerRefusedError) return err.message;
  return 'the broker is unavailable; retry later';
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function encodeErrCounted(metrics: Metrics, id: Id, code: ErrorCode, msg: string): Buffer {
  metrics.protocolErrors.inc({ code });
  return encodeErr(id, code, msg);
}

/** An ack whose fields may hold non-ASCII text (user ids), written as UTF-8. */
function encodeAckUtf8(id: string, body: string): Buffer {
  return encodeAckParts(id, [Buffer.from(body, 'utf8')]);
}
