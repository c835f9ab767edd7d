// The pub/sub hub: connections, topics, seq, history, presence, and the v1 request handlers.
// A publish encodes its msg frame once and hands the transport the topic's membership view:
// nothing is serialized, allocated or looped over per subscriber here.
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { allowed } from '../auth/permissions.js';
import type { Config } from '../config.js';
import type { Metrics } from '../metrics.js';
import { encodeAck, encodeAckParts, encodeErr, encodeMsg, jsonAscii } from '../protocol/encode.js';
import { closeCodes, type ErrorCode } from '../protocol/errors.js';
import { parseRequest, type Id, type Request } from '../protocol/request.js';
import { CONN_SLOT_MASK, type ConnectionInfo, type Transport } from '../transport/types.js';
import { Conn } from './conn.js';
import type { Retained } from './history.js';
import { RateLimiter } from './rate-limit.js';
import { Topic } from './topic.js';

/** Presence lists at most this many clients; `count` is always exact. */
export const PRESENCE_LIST_LIMIT = 1000;

/** Close code for a connection whose token expired (4000-4999 are private use, RFC 6455 7.4.2). */
export const CLOSE_TOKEN_EXPIRED = 4001;
/** setTimeout's longest delay; longer expiries are re-armed in steps. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export interface PublishResult {
  seq: number;
  subscribers: number;
}

export class Hub {
  /** connections by slot (CONN_SLOT_MASK of the id): an array, not a Map, to stay small per connection */
  private readonly conns: (Conn | undefined)[] = [];
  private liveConns = 0;
  private readonly topics = new Map<string, Topic>();
  /** topics with no members, kept (seq, epoch, history) until --history-ttl after their last activity */
  private readonly idle = new Set<Topic>();
  private readonly bootId = randomBytes(4).toString('hex');
  private epochCounter = 0;
  private clientCounter = 0;
  private pendingPublishStarts: number[] = [];
  private sweepTimer: NodeJS.Timeout | undefined;
  transport!: Transport;

  constructor(
    private readonly config: Config,
    private readonly metrics: Metrics,
  ) {
    if (config.historyTtl > 0) {
      const every = Math.min(config.historyTtl * 1000, 10_000);
      this.sweepTimer = setInterval(() => this.sweep(), every);
      this.sweepTimer.unref();
    }
  }

  stop(): void {
    clearInterval(this.sweepTimer);
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

  // ---- connection lifecycle (called by the transport) ----

  open(id: number, info: ConnectionInfo): void {
    const conn = new Conn(id, ++this.clientCounter, info.user, info.perms);
    const slot = id & CONN_SLOT_MASK;
    while (this.conns.length <= slot) this.conns.push(undefined); // append keeps the array dense
    this.conns[slot] = conn;
    this.liveConns++;
    const { rateLimit, rateLimitBytes } = this.config;
    if (RateLimiter.enabled(rateLimit, rateLimitBytes)) conn.limiter = new RateLimiter(rateLimit, rateLimitBytes, performance.now());
    if (info.expiresAt !== undefined) this.armExpiry(conn, info.expiresAt);
    for (const name of info.topics) this.join(conn, this.topicFor(name));
  }

  private armExpiry(conn: Conn, expiresAt: number): void {
    const left = expiresAt - Date.now();
    if (left <= 0) return this.shut(conn, CLOSE_TOKEN_EXPIRED, 'token expired');
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

  /** Publishes `data` (verbatim JSON bytes) to `topicName`; `exclude` skips one connection. */
  publish(topicName: string, data: Uint8Array, exclude = -1, source: 'ws' | 'http' = 'http'): PublishResult {
    const start = performance.now();
    const topic = this.topicFor(topicName);
    const seq = ++topic.seq;
    const msg = encodeMsg(topic.json, seq, data);
    topic.history.push({ seq, frame: msg.frame, dataStart: msg.dataStart, dataEnd: msg.dataEnd });
    topic.lastActive = start;
    const receivers = topic.members.count === 0 ? 0 : this.transport.fanout(topic.members.view(), msg.frame, exclude);
    this.metrics.publishes.inc({ source });
    if (receivers > 0) {
      this.metrics.deliveries.inc(receivers);
      this.metrics.bytesOut.inc(receivers * msg.frame.length);
      this.pendingPublishStarts.push(start);
    }
    if (topic.members.count === 0) this.retireIfUnused(topic);
    return { seq, subscribers: receivers };
  }

  // ---- request handlers ----

  private handle(conn: Conn, req: Request): void {
    switch (req.op) {
      case 'sub': return this.onSub(conn, req);
      case 'unsub': return this.onUnsub(conn, req.id, req.topic);
      case 'pub': {
        if (!allowed(conn.perms, 'pub', req.topic)) return this.forbidden(conn, req.id, 'publishing to', req.topic);
        const r = this.publish(req.topic, req.data, req.echo ? -1 : conn.id, 'ws');
        if (req.id !== undefined) this.reply(conn, encodeAck(req.id, `"topic":${jsonAscii(req.topic)},"seq":${r.seq},"subscribers":${r.subscribers}`));
        return;
      }
      case 'history':
        if (!allowed(conn.perms, 'sub', req.topic)) return this.forbidden(conn, req.id, 'reading', req.topic);
        return this.onHistory(conn, req.id, req.topic, req.since);
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
      topic = this.topicFor(req.topic);
      this.join(conn, topic);
    }
    // Ack, replay and membership happen in one synchronous step: no live publish can fall
    // between the replayed messages and the first live one (no gap, no duplicate).
    const recovery = req.since === undefined ? undefined : this.recover(topic, req.since, req.epoch);
    if (req.id !== undefined) {
      const recovered = recovery === undefined ? '' : `,"recovered":${recovery.recovered}`;
      this.reply(conn, encodeAck(req.id, `"topic":${topic.json},"seq":${topic.seq},"epoch":${jsonAscii(topic.epoch)}${recovered}`));
    }
    if (recovery !== undefined) for (const m of recovery.messages) this.transport.send(conn.id, m.frame);
  }

  private onUnsub(conn: Conn, id: Id, name: string): void {
    const topic = this.topics.get(name);
    if (topic === undefined || conn.indexIn(topic) === undefined) return this.err(conn, id, 'not_subscribed', `not subscribed to ${name}`);
    this.leave(conn, topic);
    if (id !== undefined) this.reply(conn, encodeAck(id, `"topic":${topic.json}`));
  }

  private onHistory(conn: Conn, id: Id, name: string, since: number): void {
    if (id === undefined) return; // a history request without an id has nowhere to be answered
    const topic = this.topicFor(name);
    const { recovered, messages } = this.recover(topic, since, undefined);
    const parts: (string | Uint8Array)[] = [`"topic":${topic.json},"seq":${topic.seq},"epoch":${jsonAscii(topic.epoch)},"recovered":${recovered},"messages":[`];
    messages.forEach((m, i) => {
      parts.push(`${i === 0 ? '' : ','}{"seq":${m.seq},"data":`, m.frame.subarray(m.dataStart, m.dataEnd), '}');
    });
    parts.push(']');
    this.reply(conn, encodeAckParts(id, parts));
    this.retireIfUnused(topic);
  }

  private onPresence(conn: Conn, id: Id, name: string): void {
    if (id === undefined) return;
    const topic = this.topics.get(name);
    const ids = topic?.members.view() ?? new Uint32Array(0);
    const listed = Math.min(ids.length, PRESENCE_LIST_LIMIT);
    const clients: string[] = new Array(listed);
    for (let i = 0; i < listed; i++) {
      const member = this.conn(ids[i]!)!;
      clients[i] = `{"client":"c${this.bootId}-${member.serial.toString(36)}","user":${JSON.stringify(member.user)}}`;
    }
    const truncated = ids.length > listed ? ',"truncated":true' : '';
    const body = `"topic":${jsonAscii(name)},"count":${ids.length}${truncated},"clients":[${clients.join(',')}]`;
    this.reply(conn, encodeAckUtf8(id, body));
  }

  // ---- recovery ----

  private recover(topic: Topic, since: number, epoch: string | undefined): { recovered: boolean; messages: Retained[] } {
    const h = topic.history;
    if ((epoch !== undefined && epoch !== topic.epoch) || since > topic.seq) {
      // the client's position belongs to another incarnation of the topic
      return { recovered: false, messages: h.since(0) };
    }
    if (since === topic.seq) return { recovered: true, messages: [] };
    const oldest = h.oldestSeq();
    if (oldest === undefined) return { recovered: false, messages: [] };
    if (since + 1 < oldest) return { recovered: false, messages: h.since(0) };
    return { recovered: true, messages: h.since(since) };
  }

  // ---- membership ----

  private topicFor(name: string): Topic {
    let topic = this.topics.get(name);
    if (topic === undefined) {
      topic = new Topic(name, `${this.bootId}-${(++this.epochCounter).toString(36)}`, this.config.history);
      topic.lastActive = performance.now();
      this.topics.set(name, topic);
    }
    return topic;
  }

  private join(conn: Conn, topic: Topic): void {
    if (conn.indexIn(topic) !== undefined) return;
    conn.setIndex(topic, topic.members.add(conn.id));
    this.idle.delete(topic);
  }

  private leave(conn: Conn, topic: Topic): void {
    const index = conn.indexIn(topic);
    if (index === undefined) return;
    const moved = topic.members.removeAt(index);
    if (moved !== -1) this.conn(moved)!.setIndex(topic, index);
    conn.deleteIndex(topic);
    if (topic.members.count === 0) {
      topic.members.compact();
      topic.lastActive = performance.now();
      this.retireIfUnused(topic);
    }
  }

  /**
   * A topic without members keeps its seq, epoch and history for --history-ttl after its
   * last activity, so a client reconnecting within it recovers; then it is dropped.
   */
  private retireIfUnused(topic: Topic): void {
    if (topic.members.count !== 0) return;
    if (this.config.historyTtl === 0) {
      this.topics.delete(topic.name);
      this.idle.delete(topic);
    } else {
      this.idle.add(topic);
    }
  }

  private sweep(): void {
    const cutoff = performance.now() - this.config.historyTtl * 1000;
    for (const topic of this.idle) {
      if (topic.lastActive <= cutoff) {
        this.idle.delete(topic);
        this.topics.delete(topic.name);
      }
    }
  }

  // ---- replies ----

  private reply(conn: Conn, frame: Buffer): void {
    this.transport.send(conn.id, frame);
  }

  private forbidden(conn: Conn, id: Id, what: string, topic: string): void {
    this.err(conn, id, 'forbidden', `token does not allow ${what} ${topic}`);
  }

  private err(conn: Conn, id: Id, code: ErrorCode, msg: string): void {
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
