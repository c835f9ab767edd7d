// The v1 request handlers of a connection (docs/protocol.md): sub (with recovery), unsub, pub,
// ping, history and presence. Each is answered in request order when the broker answers in the
// call (the in-process broker), and under a Ticket when it answers later (admission.ts). What
// they need of the hub (its store of topic copies, membership, replies) comes through RequestHub.
import { allowed } from '../auth/permissions.js';
import { settle, andThen, type SharedBroker, type TopicState } from '../broker/types.js';
import type { Config } from '../config.js';
import type { Metrics } from '../metrics.js';
import { encodeAck, encodeAckParts, jsonAscii } from '../protocol/encode.js';
import type { ErrorCode } from '../protocol/errors.js';
import type { Id, Request } from '../protocol/request.js';
import { Ticket, underTicket, type InFlight } from './admission.js';
import type { Conn } from './conn.js';
import type { Page, Retained } from './history.js';
import type { Presence } from './presence.js';
import type { Replica } from './replica.js';
import { brokerTrouble, encodeAckUtf8 } from './replies.js';
import { Topic } from './topic.js';
import type { TopicStore } from './topics.js';

/** Presence lists at most this many clients; `count` is always exact. */
export const PRESENCE_LIST_LIMIT = 1000;
/** A history ack carries at most this many messages (and `limit` at most this). */
export const HISTORY_PAGE_LIMIT = 1000;
/** Requests one connection may have waiting for a broker that answers later. */
const MAX_IN_FLIGHT = 256;
/** What a presence reply may hold (1000 clients with their user ids), for the in-flight bound. */
const PRESENCE_REPLY_BYTES = 256 * 1024;

/** `duplicate`: the idempotency key was seen within --idempotency-ttl; seq is the first publish's, nothing was delivered. */
export type PublishResult =
  { ok: true; seq: number; subscribers: number; duplicate: boolean } | { ok: false; code: ErrorCode; msg: string };

/** What the request handlers need of the hub. */
export interface RequestHub {
  readonly config: Config;
  readonly metrics: Metrics;
  readonly broker: SharedBroker;
  /** this node's copies of the topics its subscribers follow */
  readonly topics: TopicStore;
  readonly presence: Presence;
  readonly replica: Replica;
  /** what one history ack or one sub replay may carry (replyBudget) */
  readonly budget: number;
  /** requests waiting for the broker over every connection */
  readonly inFlight: InFlight;
  publish(topic: string, data: Uint8Array, exclude: number, source: 'ws' | 'http', key?: string): PublishResult | Promise<PublishResult>;
  /** queues a frame; false when the connection is closing */
  reply(conn: Conn, frame: Buffer): boolean;
  err(conn: Conn, id: Id, code: ErrorCode, msg: string): void;
  /** the topic's copy, made and synced when missing, or why it cannot be */
  obtain(name: string): Topic | { code: ErrorCode; msg: string };
  join(conn: Conn, topic: Topic): void;
  leave(conn: Conn, topic: Topic): void;
  /** why a request cannot be served now, for the client */
  brokerDown(): string;
  log(op: string, topic: string, err: unknown): void;
}

export class Requests {
  constructor(private readonly hub: RequestHub) {}

  handle(conn: Conn, req: Request): void {
    switch (req.op) {
      case 'sub':
        return this.onSub(conn, req);
      case 'unsub':
        return this.onUnsub(conn, req.id, req.topic);
      case 'pub': {
        if (!allowed(conn.perms, 'pub', req.topic)) return this.forbidden(conn, req.id, 'publishing to', req.topic);
        const publish = () => this.hub.publish(req.topic, req.data, req.echo ? -1 : conn.id, 'ws', req.key);
        const answer = (r: PublishResult) => this.published(conn, req.id, req.topic, r);
        const ticket = this.admitInFlight(conn, req.id, req.data.length);
        if (ticket === undefined) return;
        return underTicket(ticket, publish, answer, (err) => this.failed(conn, req.id, 'publish', req.topic, err));
      }
      case 'ping':
        if (req.id !== undefined) this.hub.reply(conn, encodeAck(req.id, ''));
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
    if (conn.inFlight >= MAX_IN_FLIGHT || (conn.inFlight > 0 && conn.inFlightBytes + bytes > this.hub.config.maxOutbound)) {
      this.hub.metrics.rateLimited.inc();
      this.hub.err(
        conn,
        id,
        'rate_limited',
        `too many requests waiting for the broker (at most ${MAX_IN_FLIGHT} and ${this.hub.config.maxOutbound} bytes per connection): wait for their answers`,
      );
      return undefined;
    }
    return new Ticket(conn, this.hub.inFlight, bytes);
  }

  /** A request whose broker call failed in a way its handler did not map: logged, answered. */
  private failed(conn: Conn, id: Id, op: string, topic: string, err: unknown): void {
    this.hub.log(op, topic, err);
    this.hub.err(conn, id, 'unavailable', `cannot ${op === 'publish' ? 'publish' : `read ${topic}`}: ${brokerTrouble(err)}`);
  }

  private published(conn: Conn, id: Id, topic: string, r: PublishResult): void {
    if (!r.ok) return this.hub.err(conn, id, r.code, r.msg);
    const dup = r.duplicate ? ',"duplicate":true' : '';
    if (id !== undefined)
      this.hub.reply(conn, encodeAck(id, `"topic":${jsonAscii(topic)},"seq":${r.seq},"subscribers":${r.subscribers}${dup}`));
  }

  private onSub(conn: Conn, req: Extract<Request, { op: 'sub' }>): void {
    if (!allowed(conn.perms, 'sub', req.topic)) return this.forbidden(conn, req.id, 'subscribing to', req.topic);
    if (!this.hub.broker.ready)
      return this.hub.err(conn, req.id, 'unavailable', `cannot subscribe to ${req.topic}: ${this.hub.brokerDown()}`);
    let topic = this.hub.topics.get(req.topic);
    if (topic === undefined || conn.indexIn(topic) === undefined) {
      if (conn.subscriptionCount >= this.hub.config.maxTopicsPerConnection) {
        return this.hub.err(
          conn,
          req.id,
          'too_many_topics',
          `a connection may hold at most ${this.hub.config.maxTopicsPerConnection} subscriptions`,
        );
      }
      const obtained = this.hub.obtain(req.topic);
      if (!(obtained instanceof Topic))
        return this.hub.err(conn, req.id, obtained.code, `cannot subscribe to ${req.topic}: ${obtained.msg}`);
      topic = obtained;
      this.hub.join(conn, topic);
    }
    if (req.presence) this.hub.presence.watch(conn, topic);
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
      const client = req.presence ? `,"client":${jsonAscii(this.hub.presence.clientId(conn))}` : '';
      // a client told "" (no record yet) that resumed in the first epoch keeps "": nothing changed for it
      const epoch = req.epoch === '' && recovery?.recovered === true && this.hub.replica.firstEpoch(topic) ? '' : topic.epoch;
      this.hub.reply(conn, encodeAck(req.id, `"topic":${topic.json},"seq":${topic.seq},"epoch":${jsonAscii(epoch)}${recovered}${client}`));
    }
    if (recovery === undefined) return;
    if (recovery.cut) this.hub.metrics.repliesCut.inc({ op: 'sub' });
    for (const m of recovery.messages)
      if (!this.hub.reply(conn, conn.deflate && m.compressed !== undefined ? m.compressed : m.frame)) return;
  }

  private onUnsub(conn: Conn, id: Id, name: string): void {
    const topic = this.hub.topics.get(name);
    if (topic === undefined || conn.indexIn(topic) === undefined)
      return this.hub.err(conn, id, 'not_subscribed', `not subscribed to ${name}`);
    if (topic.phase === 'syncing') {
      // a sub of this connection still waiting for the broker is answered first, in request order
      topic.waiting = topic.waiting.filter((w) => {
        if (w.conn !== conn.id) return true;
        if (w.id !== undefined) this.hub.err(conn, w.id, 'not_subscribed', `unsubscribed from ${name} before this subscription completed`);
        return false;
      });
    }
    this.hub.leave(conn, topic);
    if (id !== undefined) this.hub.reply(conn, encodeAck(id, `"topic":${topic.json}`));
  }

  private onHistory(conn: Conn, id: Id, name: string, since: number, limit: number): void {
    if (id === undefined) return; // a history request without an id has nowhere to be answered
    const topic = this.hub.topics.get(name);
    if (!this.hub.broker.ready) return this.hub.err(conn, id, 'unavailable', `cannot read ${name}: ${this.hub.brokerDown()}`);
    if (topic === undefined || topic.phase !== 'live') {
      // no current copy here: the broker's history (a read never creates a topic)
      const ticket = this.admitInFlight(conn, id, this.hub.budget);
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
      this.hub.budget,
      Math.min(limit, HISTORY_PAGE_LIMIT),
      (m) => m.dataEnd - m.dataStart + 34,
    );
    if (page.more) this.hub.metrics.repliesCut.inc({ op: 'history' });
    const parts: (string | Uint8Array)[] = [
      `"topic":${topic.json},"seq":${topic.seq},"epoch":${jsonAscii(topic.epoch)},"recovered":${recovered},"messages":[`,
    ];
    page.messages.forEach((m, i) => {
      parts.push(`${i === 0 ? '' : ','}{"seq":${m.seq},"data":`, m.frame.subarray(m.dataStart, m.dataEnd), '}');
    });
    parts.push(`],"more":${page.more}`);
    this.hub.reply(conn, encodeAckParts(id, parts));
  }

  /** A history read from the broker: for a topic this node holds no current copy of. */
  private historyFromBroker(conn: Conn, id: string, name: string, since: number, limit: number): void | Promise<void> {
    const broker = this.hub.broker;
    const count = Math.min(limit, HISTORY_PAGE_LIMIT) + 1; // one more than asked shows whether there is more
    return settle(
      () =>
        andThen(broker.read(name, since, count, false, this.hub.budget), (state) =>
          // a position the broker cannot continue from (later than its seq, of the previous epoch,
          // or older than what it retains) resumes at the oldest retained message
          state.epoch !== null && (since > state.seq || since < state.base || (state.oldest > 0 && since + 1 < state.oldest))
            ? broker.read(name, state.base, count, false, this.hub.budget)
            : state,
        ),
      (state) => this.historyPage(conn, id, name, since, limit, state),
      (err) => this.hub.err(conn, id, 'unavailable', `cannot read ${name}: ${brokerTrouble(err)}`),
    );
  }

  private historyPage(conn: Conn, id: string, name: string, since: number, limit: number, state: TopicState): void {
    if (state.epoch === null) {
      return void this.hub.reply(
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
      if (listed > 0 && (bytes > this.hub.budget || listed >= most)) break;
      parts.push(`${listed === 0 ? '' : ','}{"seq":${m.seq},"data":`, m.data, '}');
      listed++;
    }
    // the broker's read is itself bounded in bytes: there is more when the page ends before the topic's seq
    const more = listed > 0 && messages[listed - 1]!.seq < state.seq;
    if (more) this.hub.metrics.repliesCut.inc({ op: 'history' });
    parts.push(`],"more":${more}`);
    this.hub.reply(conn, encodeAckParts(id, parts));
  }

  /** Presence from the broker: every node's clients. */
  private onPresence(conn: Conn, id: Id, name: string): void {
    if (id === undefined) return;
    if (!this.hub.broker.ready) return this.hub.err(conn, id, 'unavailable', `cannot read presence of ${name}: ${this.hub.brokerDown()}`);
    const ticket = this.admitInFlight(conn, id, PRESENCE_REPLY_BYTES);
    if (ticket === undefined) return;
    const broker = this.hub.broker;
    return underTicket(
      ticket,
      () =>
        settle(
          () => broker.presenceList(name, PRESENCE_LIST_LIMIT),
          (list) => {
            const clients = list.clients.map((c) => `{"client":${jsonAscii(c.client)},"user":${JSON.stringify(c.user)}}`);
            const truncated = list.count > clients.length ? ',"truncated":true' : '';
            const body = `"topic":${jsonAscii(name)},"count":${list.count}${truncated},"clients":[${clients.join(',')}]`;
            this.hub.reply(conn, encodeAckUtf8(id, body));
          },
          (err) => this.hub.err(conn, id, 'unavailable', `cannot read presence of ${name}: ${brokerTrouble(err)}`),
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
    if (epoch === '' && this.hub.replica.firstEpoch(topic)) epoch = topic.epoch; // subscribed before the first publish
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
    const page = topic.history.newestFirst(from, this.hub.budget, HISTORY_PAGE_LIMIT, (m) => m.frame.length);
    return { recovered: recovered && !page.more, messages: page.messages, cut: page.more };
  }

  private forbidden(conn: Conn, id: Id, what: string, topic: string): void {
    this.hub.err(conn, id, 'forbidden', `token does not allow ${what} ${topic}`);
  }
}
