// RingcastClient: one WebSocket to a ringcast server that reconnects by itself (exponential
// backoff with full jitter, at once when a browser comes back online or a token was renewed),
// renews every subscription with since + epoch so no message is lost or seen twice, detects a
// silently dead link with a client-level ping, and settles every request explicitly. A refusal
// that passes (the broker is down ...) is retried with the same backoff; one that cannot pass is
// reported. Nothing waits forever, and no subscription is silently dead while the link is up.
//
// Longer than ~450 lines on purpose: it is one state machine (connecting, open, closed, each
// request's fate, each subscription's position) whose transitions read each other's state; the
// parts that stand alone (backoff, close and err codes, the socket, Subscription) have their files.
import { backoffDelay } from './backoff.js';
import { closeAction, closeCodes, refusalAction, type CloseAction } from './close-codes.js';
import { Emitter } from './emitter.js';
import { errAction } from './err-codes.js';
import { RingcastError } from './errors.js';
import { socketFactory, type SocketFactory, type SocketLike } from './socket.js';
import {
  Subscription,
  type Member,
  type MessageMeta,
  type RecoveryInfo,
  type SubscribeOptions,
  type SubscriptionHost,
  type SubscriptionStateChange,
} from './subscription.js';

export interface ClientOptions {
  /** a fixed token, sent as ?token= */
  token?: string;
  /** called before every connection attempt for a fresh token (and after close 4001) */
  getToken?: () => string | Promise<string>;
  /** backoff bounds (ms): the n-th retry waits a uniform random time in [0, min(maxDelay, minDelay * 2^n)) */
  minDelay?: number;
  maxDelay?: number;
  /** heartbeat period (ms): a link silent for two periods is dropped and reconnected; 0 = off */
  pingInterval?: number;
  /** how long publish, history and presence wait (ms) for a connection and their answer, in all; and a sub for its answer */
  requestTimeout?: number;
  /** how long close() waits (ms) for the closing handshake before it drops the link */
  closeTimeout?: number;
  /** a WebSocket constructor to use instead of globalThis.WebSocket or `ws` */
  WebSocket?: SocketFactory;
}

export type ConnectionState = 'connecting' | 'connected' | 'disconnected' | 'closed';

export interface StateChange {
  state: ConnectionState;
  /** why the last connection ended (disconnected): close code and reason, or a client-side cause */
  code?: number;
  reason?: string;
  /** connection attempts since the last successful one */
  attempt: number;
  /** ms until the next attempt (disconnected, when a retry is scheduled) */
  delay?: number;
}

export interface ClientEvents extends Record<string, unknown> {
  state: StateChange;
  /** the client stopped for good (it will not reconnect): token_expired or refused */
  error: RingcastError;
  /** after a resubscribe: whether the subscription recovered what it missed */
  recovery: RecoveryInfo;
  /** every state change of every subscription (also emitted on the subscription): retrying, failed ... */
  subscription: SubscriptionStateChange;
}

export interface PublishOptions {
  /** false: the server does not send the message back to this connection */
  echo?: boolean;
  /** idempotency key: a publish whose ack was lost is re-sent after reconnect, and the server delivers it once */
  key?: string;
  /** overrides requestTimeout (ms) */
  timeout?: number;
}

export interface PublishResult {
  seq: number;
  subscribers: number;
  /** the key was seen before: `seq` is the first publish's and nothing was delivered again */
  duplicate?: boolean;
}

export interface HistoryResult {
  topic: string;
  /** the topic's current seq (0 for a topic that does not exist) */
  seq: number;
  /** the topic's epoch; null for a topic that does not exist */
  epoch: string | null;
  /** false: messages after `since` are no longer retained (the page starts at the oldest retained one) */
  recovered: boolean;
  /** at most `limit`, oldest first */
  messages: { seq: number; data: unknown }[];
  /** another page follows: ask again with `since` = the last message's seq */
  more: boolean;
}

export interface PresenceResult {
  count: number;
  clients: Member[];
  truncated?: boolean;
}

/** A keyed publish is sent at most this often (a message that closes the link must not loop). */
const MAX_SENDS = 3;

interface Pending {
  body: Record<string, unknown>;
  /** re-sent after a reconnect when its answer was lost, and after a refusal that passes (reads, keyed publishes) */
  retry: boolean;
  sends: number;
  /** links that dropped while it was in flight */
  drops: number;
  /** transient refusals so far (the backoff's exponent) and the last one, for the timeout's message */
  refusals: number;
  refusal: string | undefined;
  /** waiting out a backoff after a refusal */
  again: ReturnType<typeof setTimeout> | undefined;
  resolve(ack: Record<string, unknown>): void;
  reject(err: RingcastError): void;
  timer: ReturnType<typeof setTimeout>;
}

type Frame = Record<string, unknown> & { op: string };

export class RingcastClient extends Emitter<ClientEvents> implements SubscriptionHost {
  private readonly opts: Required<Omit<ClientOptions, 'token' | 'getToken' | 'WebSocket'>> & ClientOptions;
  private ws: SocketLike | undefined;
  private stateValue: ConnectionState = 'connecting';
  private attempt = 0;
  private nextId = 1;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private pingTimer: ReturnType<typeof setInterval> | undefined;
  private heard = false;
  private pinged = false;
  /** a fresh token is needed before the next attempt (4001) */
  private token: string | undefined;
  private readonly subs = new Map<string, Subscription>();
  /** sub and presence requests in flight on the current connection, by id */
  private readonly subAcks = new Map<number, { sub: Subscription; kind: 'sub' | 'presence' }>();
  /** requests waiting for a connection */
  private outbox: Pending[] = [];
  /** requests sent on the current connection, by id */
  private readonly inflight = new Map<number, Pending>();
  /** requests refused for a reason that passes, waiting out their backoff */
  private readonly backingOff = new Set<Pending>();
  private closing: Promise<void> | undefined;
  /** when the last 4001 made it fetch a new token (ms since the epoch) */
  private lastRefresh = 0;
  private readonly onOnline = () => this.retryNow();

  constructor(
    readonly url: string,
    options: ClientOptions = {},
  ) {
    super();
    this.opts = { minDelay: 250, maxDelay: 10_000, pingInterval: 10_000, requestTimeout: 10_000, closeTimeout: 1000, ...options };
    this.token = options.token;
    const g = globalThis as { addEventListener?: (e: string, l: () => void) => void };
    g.addEventListener?.('online', this.onOnline);
    void this.connect();
  }

  get state(): ConnectionState {
    return this.stateValue;
  }

  /** Subscribes; `onMessage` gets every message once, in seq order, across reconnects. */
  subscribe(topic: string, onMessage: (data: unknown, meta: MessageMeta) => void, options: SubscribeOptions = {}): Subscription {
    if (this.stateValue === 'closed') throw new RingcastError('closed', 'the client is closed');
    if (this.subs.has(topic)) throw new RingcastError('already_subscribed', `already subscribed to ${topic}`);
    const sub = new Subscription(topic, onMessage, options, this);
    this.subs.set(topic, sub);
    if (this.stateValue === 'connected') this.sendSub(sub);
    return sub;
  }

  /** Publishes; resolves with the ack's seq. See docs/client.md for what happens across a disconnect. */
  publish(topic: string, data: unknown, options: PublishOptions = {}): Promise<PublishResult> {
    const body: Record<string, unknown> = { op: 'pub', topic, data };
    if (options.echo === false) body.echo = false;
    if (options.key !== undefined) body.key = options.key;
    return this.request(body, options.key !== undefined, options.timeout).then((a) => {
      const r: PublishResult = { seq: a.seq as number, subscribers: a.subscribers as number };
      if (a.duplicate === true) r.duplicate = true;
      return r;
    });
  }

  /** Retained messages of `topic` after `since` (one page; `more` says there is another). */
  history(topic: string, options: { since?: number; limit?: number; timeout?: number } = {}): Promise<HistoryResult> {
    const body: Record<string, unknown> = { op: 'history', topic, since: options.since ?? 0 };
    if (options.limit !== undefined) body.limit = options.limit;
    return this.request(body, true, options.timeout) as unknown as Promise<HistoryResult>;
  }

  /** Who is subscribed to `topic` now. */
  presence(topic: string, options: { timeout?: number } = {}): Promise<PresenceResult> {
    return this.request({ op: 'presence', topic }, true, options.timeout) as unknown as Promise<PresenceResult>;
  }

  /** Closes the connection and stops reconnecting; resolves once the socket is closed, leaving no timer. */
  close(): Promise<void> {
    return this.shutdown(new RingcastError('closed', 'the client was closed'));
  }

  /** close() with the error pending requests and subscriptions are rejected with. */
  private shutdown(err: RingcastError): Promise<void> {
    if (this.closing !== undefined) return this.closing;
    const g = globalThis as { removeEventListener?: (e: string, l: () => void) => void };
    g.removeEventListener?.('online', this.onOnline);
    this.setState({ state: 'closed', attempt: this.attempt });
    clearTimeout(this.retryTimer);
    this.stopHeartbeat();
    this.failAll(err);
    for (const sub of this.subs.values()) sub.end(err);
    this.subs.clear();
    const ws = this.ws;
    this.ws = undefined;
    this.closing = new Promise<void>((resolve) => {
      if (ws === undefined || ws.readyState === 3) return resolve();
      const timer = setTimeout(() => {
        ws.terminate?.();
        resolve();
      }, this.opts.closeTimeout);
      const done = () => {
        clearTimeout(timer);
        resolve();
      };
      ws.onclose = done;
      ws.onerror = () => undefined;
      ws.onmessage = null;
      ws.onopen = ws.readyState === 0 ? () => ws.close(1000, 'client closed') : null;
      if (ws.readyState === 1) ws.close(1000, 'client closed');
    });
    return this.closing;
  }

  // ---- connection ----

  private async connect(): Promise<void> {
    if (this.stateValue === 'closed') return;
    this.setState({ state: 'connecting', attempt: this.attempt });
    let Ctor: SocketFactory;
    let url = this.url;
    try {
      Ctor = this.opts.WebSocket ?? (await socketFactory());
      if (this.opts.getToken !== undefined) this.token = await this.opts.getToken();
    } catch (err) {
      return this.lost(1006, `cannot connect: ${String(err)}`, 'retry');
    }
    if ((this.stateValue as ConnectionState) === 'closed') return; // close() ran while the token was fetched
    if (this.token !== undefined) url += (url.includes('?') ? '&' : '?') + 'token=' + encodeURIComponent(this.token);
    let ws: SocketLike;
    try {
      ws = new Ctor(url);
    } catch (err) {
      // a URL the WebSocket constructor rejects (bad scheme, bad syntax) will never work
      return this.stop(1006, String(err), new RingcastError('refused', `cannot connect to ${this.url}: ${String(err)}`));
    }
    this.ws = ws;
    let refusal: number | undefined;
    ws.onopen = () => this.opened();
    ws.onmessage = (ev) => this.received(String(ev.data));
    ws.onerror = (ev) => {
      // Node's ws names the HTTP status of a refused upgrade; browsers cannot see it
      const m = /Unexpected server response: (\d{3})/.exec(ev?.message ?? '');
      if (m !== null) refusal = Number(m[1]);
    };
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      if (refusal !== undefined)
        return this.lost(1006, `upgrade refused with HTTP ${refusal}`, refusalAction(refusal, this.opts.getToken !== undefined), refusal);
      this.lost(ev.code, ev.reason, closeAction(ev.code));
    };
  }

  private opened(): void {
    this.attempt = 0;
    this.setState({ state: 'connected', attempt: 0 });
    this.startHeartbeat();
    for (const sub of this.subs.values()) this.sendSub(sub);
    const queued = this.outbox;
    this.outbox = [];
    for (const p of queued) this.transmit(p);
  }

  /** The link ended (a close, or a heartbeat timeout): settle what was in flight, then act on the code. */
  private lost(code: number, reason: string, action: CloseAction, status?: number): void {
    this.ws = undefined;
    this.stopHeartbeat();
    this.subAcks.clear();
    for (const sub of this.subs.values()) sub.unlinked();
    for (const [, p] of this.inflight) {
      p.drops++;
      if (p.retry && p.drops < MAX_SENDS) this.outbox.push(p);
      else if (p.body.op === 'pub')
        this.settle(
          p,
          new RingcastError('outcome_unknown', `the link dropped (${code}) before the ack: the publish may or may not have happened`),
        );
      else this.settle(p, new RingcastError('timeout', `the link dropped (${code}) before the answer, ${p.sends} times`));
    }
    this.inflight.clear();
    if (this.stateValue === 'closed') return;
    if (action === 'refresh' && this.opts.getToken === undefined) {
      return this.stop(
        code,
        reason,
        new RingcastError('token_expired', 'the token expired (4001) and there is no getToken() to renew it', code),
      );
    }
    if (action === 'stop')
      return this.stop(
        code,
        reason,
        new RingcastError('refused', `the server refused the connection (${status ?? code}${reason ? ': ' + reason : ''})`, status ?? code),
      );
    // a renewed token reconnects at once, unless the last renewal was just now (a token that
    // expires as soon as it is issued must not become a tight loop)
    const now = Date.now();
    const immediate = action === 'refresh' && now - this.lastRefresh > 1000;
    if (action === 'refresh') this.lastRefresh = now;
    const delay = immediate ? 0 : backoffDelay(this.attempt, this.opts.minDelay, this.opts.maxDelay);
    this.attempt++;
    this.setState({ state: 'disconnected', code, reason, attempt: this.attempt, delay });
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      void this.connect();
    }, delay);
  }

  private stop(code: number, reason: string, err: RingcastError): void {
    this.setState({ state: 'disconnected', code, reason, attempt: this.attempt });
    this.emit('error', err);
    void this.shutdown(err);
  }

  /** A browser came back online: skip the rest of the backoff. */
  private retryNow(): void {
    if (this.retryTimer === undefined) return;
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    void this.connect();
  }

  /** Drops the current link without waiting for a closing handshake a dead link would never finish. */
  private drop(code: number, reason: string): void {
    const ws = this.ws;
    if (ws === undefined) return;
    ws.onopen = ws.onmessage = ws.onclose = null;
    ws.onerror = () => undefined;
    if (ws.terminate !== undefined) ws.terminate();
    else ws.close(code, reason);
    this.lost(code, reason, closeAction(code));
  }

  // ---- heartbeat ----

  private startHeartbeat(): void {
    if (this.opts.pingInterval <= 0) return;
    this.heard = true;
    this.pinged = false;
    this.pingTimer = setInterval(() => {
      // a ping went out a whole interval ago and nothing came back since: the link is dead
      if (this.pinged && !this.heard) return this.drop(closeCodes.heartbeatTimeout.code, 'heartbeat timeout');
      this.heard = false;
      this.pinged = true;
      this.ws?.send(JSON.stringify({ op: 'ping', id: this.nextId++ }));
    }, this.opts.pingInterval);
  }

  private stopHeartbeat(): void {
    clearInterval(this.pingTimer);
    this.pingTimer = undefined;
  }

  // ---- inbound ----

  private received(text: string): void {
    this.heard = true;
    let f: Frame;
    try {
      f = JSON.parse(text) as Frame;
    } catch {
      return;
    }
    switch (f.op) {
      case 'msg':
        return this.subs.get(f.topic as string)?.deliver(f.seq as number, f.data);
      case 'ack':
      case 'err':
        return this.answered(f);
      case 'join':
      case 'leave':
        return this.subs.get(f.topic as string)?.event(f.op, { client: f.client as string, user: f.user as string });
      case 'presence_sync':
        return this.subs.get(f.topic as string)?.desync();
      case 'resync':
        return this.subs.get(f.topic as string)?.resync(f.epoch as string, Number(f.seq ?? 0));
    }
  }

  private answered(f: Frame): void {
    const id = f.id as number;
    const subAck = this.subAcks.get(id);
    if (subAck !== undefined) {
      this.subAcks.delete(id);
      const { sub, kind } = subAck;
      if (!sub.active || this.subs.get(sub.topic) !== sub) return;
      if (kind === 'presence') {
        if (f.op === 'ack') return sub.snapshot((f.clients as Member[]) ?? []);
        // without the snapshot join/leave events are not applied: a refusal that passes is read again
        if (errAction(f.code as string) !== 'retry') return;
        sub.timer = setTimeout(
          () => {
            sub.timer = undefined;
            if (sub.state === 'subscribed' && this.subs.get(sub.topic) === sub) this.readPresence(sub);
          },
          backoffDelay(sub.presenceRefusals++, this.opts.minDelay, this.opts.maxDelay),
        );
        return;
      }
      clearTimeout(sub.timer);
      sub.timer = undefined;
      if (f.op === 'ack') return sub.onAck(f as never);
      return this.subRefused(sub, f.code as string, String(f.msg));
    }
    const p = this.inflight.get(id);
    if (p === undefined) return; // a ping's ack, or an answer after its timeout
    this.inflight.delete(id);
    if (f.op !== 'err') return this.settle(p, undefined, f);
    const err = new RingcastError('server', String(f.msg), f.code as string);
    if (!p.retry || errAction(f.code as string) !== 'retry') return this.settle(p, err);
    // idempotent (a read, a keyed publish): asked again after a backoff, within its timeout
    p.refusal = `${String(f.code)}: ${String(f.msg)}`;
    const delay = backoffDelay(p.refusals++, this.opts.minDelay, this.opts.maxDelay);
    this.backingOff.add(p);
    p.again = setTimeout(() => {
      p.again = undefined;
      this.backingOff.delete(p);
      if (this.stateValue === 'connected') this.transmit(p);
      else this.outbox.push(p);
    }, delay);
  }

  /**
   * A sub refused: one that passes is sent again after the backoff (a reconnect sends it at once),
   * keeping its position; one that cannot pass fails the subscription where the app sees it.
   */
  private subRefused(sub: Subscription, code: string, msg: string): void {
    if (errAction(code) === 'fail') {
      this.subs.delete(sub.topic); // the topic is free for a new subscribe(), e.g. with a better token
      return sub.fail(new RingcastError('server', `subscribe to ${sub.topic} refused: ${msg}`, code));
    }
    const delay = backoffDelay(sub.refusals, this.opts.minDelay, this.opts.maxDelay);
    sub.timer = setTimeout(() => {
      sub.timer = undefined;
      if (this.stateValue === 'connected' && this.subs.get(sub.topic) === sub) this.sendSub(sub);
    }, delay);
    sub.retrying(code, msg, delay);
  }

  // ---- requests ----

  private request(body: Record<string, unknown>, retry: boolean, timeout = this.opts.requestTimeout): Promise<Record<string, unknown>> {
    if (this.stateValue === 'closed') return Promise.reject(new RingcastError('closed', 'the client is closed'));
    return new Promise((resolve, reject) => {
      const p: Pending = {
        body,
        retry,
        sends: 0,
        drops: 0,
        refusals: 0,
        refusal: undefined,
        again: undefined,
        resolve,
        reject,
        timer: setTimeout(() => {
          const sent = p.sends > 0 && body.op === 'pub';
          const refused = p.refusal === undefined ? '' : ` (last refusal: ${p.refusal})`;
          this.settle(
            p,
            new RingcastError(
              sent ? 'outcome_unknown' : 'timeout',
              (sent ? `no ack within ${timeout} ms: the publish may or may not have happened` : `no answer within ${timeout} ms`) + refused,
            ),
          );
        }, timeout),
      };
      if (this.stateValue === 'connected') this.transmit(p);
      else this.outbox.push(p);
    });
  }

  private transmit(p: Pending): void {
    const id = this.nextId++;
    p.sends++;
    this.inflight.set(id, p);
    this.ws!.send(JSON.stringify({ ...p.body, id }));
  }

  private settle(p: Pending, err: RingcastError | undefined, ack?: Record<string, unknown>): void {
    clearTimeout(p.timer);
    clearTimeout(p.again);
    this.backingOff.delete(p);
    this.outbox = this.outbox.filter((q) => q !== p);
    for (const [id, q] of this.inflight) if (q === p) this.inflight.delete(id);
    if (err !== undefined) p.reject(err);
    else p.resolve(ack!);
  }

  private failAll(err: RingcastError): void {
    for (const p of [...this.outbox, ...this.inflight.values(), ...this.backingOff]) this.settle(p, err);
  }

  private sendSub(sub: Subscription): void {
    const id = this.nextId++;
    this.subAcks.set(id, { sub, kind: 'sub' });
    this.ws!.send(sub.request(id));
    // the server answers every sub; one that is not answered (dropped by its message rate limit)
    // must not leave the subscription waiting while the link is up
    sub.timer = setTimeout(() => {
      sub.timer = undefined;
      if (!this.subAcks.delete(id)) return;
      this.subRefused(sub, 'timeout', `no answer within ${this.opts.requestTimeout} ms`);
    }, this.opts.requestTimeout);
  }

  // ---- SubscriptionHost ----

  /** @internal */
  readPresence(sub: Subscription): void {
    if (this.stateValue !== 'connected') return;
    const id = this.nextId++;
    this.subAcks.set(id, { sub, kind: 'presence' });
    this.ws!.send(JSON.stringify({ op: 'presence', topic: sub.topic, id }));
  }

  /** @internal */
  subscriptionChanged(change: SubscriptionStateChange): void {
    this.emit('subscription', change);
  }

  /** @internal */
  report(info: RecoveryInfo): void {
    this.emit('recovery', info);
    this.subs.get(info.topic)?.options.onRecovery?.(info);
  }

  /** @internal */
  async unsubscribeSub(sub: Subscription): Promise<void> {
    if (this.subs.get(sub.topic) !== sub) return;
    this.subs.delete(sub.topic);
    sub.end(new RingcastError('unsubscribed', `unsubscribed from ${sub.topic} before it was subscribed`));
    if (this.stateValue !== 'connected') return; // the next connection does not subscribe it
    await this.request({ op: 'unsub', topic: sub.topic }, false).then(
      () => undefined,
      () => undefined, // not_subscribed (its sub was refused) or a lost link: either way it is gone
    );
  }

  private setState(change: StateChange): void {
    this.stateValue = change.state;
    this.emit('state', change);
  }
}
