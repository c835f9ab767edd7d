// One subscription of the client: its position in the topic (last seq and epoch), so every
// (re)subscribe asks for what it missed and every message is delivered once, in seq order; its
// state, so the app always knows whether it is live (never a silent dead room behind a connected
// badge); and, when asked, the topic's members, kept from a snapshot plus join/leave events.
import { Emitter } from './emitter.js';
import { RingcastError } from './errors.js';

export interface MessageMeta {
  topic: string;
  seq: number;
}

export interface Member {
  client: string;
  user: string;
}

/** What a (re)subscribe found: `recovered:false` means messages may have been missed (a gap the app must handle). */
export interface RecoveryInfo {
  topic: string;
  recovered: boolean;
  /** messages replayed to close the gap (when recovered) */
  count: number;
  /** the topic's sequence restarted (a new epoch): seq numbers start again */
  epochChanged: boolean;
}

export interface SubscribeOptions {
  /** deliver retained messages with seq > since first (e.g. 0: the retained history) */
  since?: number;
  /** receive join/leave events (onJoin/onLeave) and keep `members` */
  presence?: boolean;
  onJoin?: (member: Member) => void;
  onLeave?: (member: Member) => void;
  /** after every resubscribe (reconnect): whether the gap was closed */
  onRecovery?: (info: RecoveryInfo) => void;
}

export interface SubscribeResult {
  seq: number;
  epoch: string;
  recovered?: boolean;
}

/**
 * subscribing: its `sub` is on the way, or waits for the connection; subscribed: live, messages
 * flow; retrying: the server refused it for a reason that passes (`unavailable` ...), a new `sub`
 * goes out after `delay`; failed: refused for good (`forbidden`, `bad_topic` ...), see `error`;
 * unsubscribed: unsubscribe() or close() ended it.
 */
export type SubscriptionState = 'subscribing' | 'subscribed' | 'retrying' | 'failed' | 'unsubscribed';

export interface SubscriptionStateChange {
  topic: string;
  state: SubscriptionState;
  /** retrying, failed: the server's err code (or the client's `timeout`); unsubscribed: `closed` when close() ended it */
  code?: string;
  /** retrying, failed: the server's message */
  reason?: string;
  /** retrying: refusals in a row so far */
  attempt?: number;
  /** retrying: ms until the next `sub` (sent at once on a reconnect instead) */
  delay?: number;
}

export interface SubscriptionEvents extends Record<string, unknown> {
  state: SubscriptionStateChange;
  /** refused for good: the subscription is failed and will not be sent again */
  error: RingcastError;
}

/** The hooks a Subscription uses on its client. */
export interface SubscriptionHost {
  unsubscribeSub(sub: Subscription): Promise<void>;
  readPresence(sub: Subscription): void;
  report(info: RecoveryInfo): void;
  subscriptionChanged(change: SubscriptionStateChange): void;
}

export class Subscription extends Emitter<SubscriptionEvents> {
  /**
   * Resolves at the first ack (after any number of transient refusals); rejects on a permanent
   * refusal (code `server`), or when unsubscribe() (`unsubscribed`) or close() (`closed`) comes first.
   */
  readonly subscribed: Promise<SubscribeResult>;
  /** the last seq delivered (or the topic's seq at the first ack) */
  lastSeq: number | undefined;
  epoch: string | undefined;
  /** members of the topic, by client id (with `presence: true`) */
  readonly members = new Map<string, Member>();
  /** this connection's presence client id (with `presence: true`; changes on reconnect) */
  clientId: string | undefined;
  private stateValue: SubscriptionState = 'subscribing';
  /** why it failed (state `failed`) */
  error: RingcastError | undefined;
  /** @internal transient refusals in a row: the backoff's exponent, kept across reconnects */
  refusals = 0;
  /** @internal refused presence reads in a row since the last snapshot */
  presenceRefusals = 0;
  /** @internal the wait for the answer to its `sub`, for its next `sub` after a refusal, or for a presence read again */
  timer: ReturnType<typeof setTimeout> | undefined;
  private acked = false;
  /** join/leave events are applied only once a snapshot arrived on this connection */
  private synced = false;
  private resolveSubscribed!: (r: SubscribeResult) => void;
  private rejectSubscribed!: (e: unknown) => void;

  constructor(
    readonly topic: string,
    private readonly onMessage: (data: unknown, meta: MessageMeta) => void,
    readonly options: SubscribeOptions,
    private readonly host: SubscriptionHost,
  ) {
    super();
    this.subscribed = new Promise((resolve, reject) => {
      this.resolveSubscribed = resolve;
      this.rejectSubscribed = reject;
    });
    this.subscribed.catch(() => undefined); // an app that never awaits it must not see an unhandled rejection
    this.lastSeq = options.since;
  }

  get state(): SubscriptionState {
    return this.stateValue;
  }

  /** Not failed and not unsubscribed: the client keeps (re)subscribing it. */
  get active(): boolean {
    return this.stateValue !== 'failed' && this.stateValue !== 'unsubscribed';
  }

  /** Stops deliveries and tells the server (when connected). */
  unsubscribe(): Promise<void> {
    return this.host.unsubscribeSub(this);
  }

  /** The sub request for the next connection: with the position, when there is one. */
  request(id: number): string {
    const req: Record<string, unknown> = { op: 'sub', topic: this.topic, id };
    if (this.lastSeq !== undefined) req.since = this.lastSeq;
    if (this.epoch !== undefined) req.epoch = this.epoch;
    if (this.options.presence === true) req.presence = true;
    this.synced = false;
    return JSON.stringify(req);
  }

  onAck(ack: { seq: number; epoch: string; recovered?: boolean; client?: string }): void {
    const since = this.lastSeq;
    const epochChanged = this.epoch !== undefined && this.epoch !== ack.epoch;
    this.clientId = ack.client;
    if (epochChanged || (since !== undefined && ack.recovered === false && ack.seq < since)) this.lastSeq = 0;
    if (this.lastSeq === undefined) this.lastSeq = ack.seq; // a plain sub: live messages only
    this.epoch = ack.epoch;
    this.refusals = 0;
    this.setState({ topic: this.topic, state: 'subscribed' });
    if (!this.acked) {
      this.acked = true;
      this.resolveSubscribed(
        ack.recovered === undefined ? { seq: ack.seq, epoch: ack.epoch } : { seq: ack.seq, epoch: ack.epoch, recovered: ack.recovered },
      );
    } else {
      const recovered = ack.recovered !== false && !epochChanged;
      this.host.report({ topic: this.topic, recovered, count: recovered && since !== undefined ? ack.seq - since : 0, epochChanged });
    }
    if (this.options.presence === true) this.host.readPresence(this);
  }

  /** @internal The link dropped: a live subscription waits for the next one. */
  unlinked(): void {
    this.stopTimer();
    if (this.active) this.setState({ topic: this.topic, state: 'subscribing' });
  }

  /** @internal A refusal that passes: the next `sub` goes out after `delay` ms. */
  retrying(code: string, reason: string, delay: number): void {
    this.refusals++;
    this.setState({ topic: this.topic, state: 'retrying', code, reason, attempt: this.refusals, delay });
  }

  /** @internal Refused for good: told through the state, the `error` event and `subscribed`. */
  fail(err: RingcastError): void {
    this.stopTimer();
    this.error = err;
    this.setState({ topic: this.topic, state: 'failed', code: String(err.serverCode ?? err.code), reason: err.message });
    this.emit('error', err);
    this.rejectSubscribed(err);
  }

  /** @internal unsubscribe() or close(): `subscribed`, when still pending, rejects with `err`. */
  end(err: RingcastError): void {
    this.stopTimer();
    if (!this.active) return;
    this.setState({ topic: this.topic, state: 'unsubscribed', ...(err.code === 'closed' ? { code: 'closed' } : {}) });
    this.rejectSubscribed(err);
  }

  private stopTimer(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private setState(change: SubscriptionStateChange): void {
    if (change.state === this.stateValue && change.state !== 'retrying') return;
    this.stateValue = change.state;
    this.emit('state', change);
    this.host.subscriptionChanged(change);
  }

  /**
   * A msg frame: delivered when it is the next seq of this epoch, dropped when already seen. Only
   * a subscribed subscription delivers: the server sends a topic's messages after the ack, and a
   * frame for an answer the client gave up on is replayed by the next `sub`'s `since`.
   */
  deliver(seq: number, data: unknown): void {
    if (this.stateValue !== 'subscribed' || this.lastSeq === undefined || seq <= this.lastSeq) return;
    this.lastSeq = seq;
    this.onMessage(data, { topic: this.topic, seq });
  }

  /**
   * The server's resync frame: what came before `seq` of `epoch` could not be delivered (the
   * broker lost the topic, or the gap was older than its history); delivery goes on after it.
   */
  resync(epoch: string, seq: number): void {
    if (this.stateValue !== 'subscribed') return;
    const epochChanged = epoch !== this.epoch;
    this.epoch = epoch;
    this.lastSeq = seq;
    this.host.report({ topic: this.topic, recovered: false, count: 0, epochChanged });
  }

  /** A presence snapshot read after the (re)subscribe: emit the differences, then follow events. */
  snapshot(clients: Member[]): void {
    const now = new Map(clients.map((m) => [m.client, m]));
    for (const [id, m] of this.members) if (!now.has(id)) this.change('leave', m);
    for (const [id, m] of now) if (!this.members.has(id)) this.change('join', m);
    this.synced = true;
    this.presenceRefusals = 0;
  }

  /** A join/leave event; ignored before the snapshot (the snapshot already reflects it) and when it changes nothing. */
  event(op: 'join' | 'leave', member: Member): void {
    if (!this.synced) return;
    if ((op === 'join') === this.members.has(member.client)) return;
    this.change(op, member);
  }

  /** presence_sync: events were dropped by the server's burst bound; read the list again. */
  desync(): void {
    if (!this.synced) return;
    this.synced = false;
    this.host.readPresence(this);
  }

  private change(op: 'join' | 'leave', m: Member): void {
    if (op === 'join') this.members.set(m.client, m);
    else this.members.delete(m.client);
    (op === 'join' ? this.options.onJoin : this.options.onLeave)?.(m);
  }
}
