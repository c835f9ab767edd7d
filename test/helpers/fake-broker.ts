// A shared broker the test drives by hand, for the hub's unit suite (test/unit/hub-shared.test.ts).
// It keeps the contract of server/broker/types.ts the way Redis does (scripts.ts): it numbers a
// topic's publishes, retains its last `history` messages, checks idempotency keys first, makes no
// record on a subscription, and delivers on a followed topic's channel. Unlike Redis, every step
// is the test's to schedule:
// - `gate(kind)`: calls of that kind wait in `pending` until the test answers them (late, in any
//   order) or fails them;
// - `autoDeliver = false`: published messages wait in `channel` until the test delivers them (in
//   any order, or skipping one to make a gap); `inject` hands the hub any message at all;
// - `lose(topic)` forgets a topic as a Redis restart without data would (the next publish starts
//   a new epoch at seq 1); `trim(topic, n)` keeps only the newest n retained messages;
// - `down()` / `up()` report an outage and the return (up() awaits the hub's restored()).
import { randomBytes } from 'node:crypto';
import {
  BrokerUnavailableError,
  type BrokerEvents,
  type BrokerHealth,
  type BrokerState,
  type PresenceList,
  type Published,
  type SharedBroker,
  type StoredMessage,
  type TopicState,
} from '../../server/broker/types.js';

export interface FakeTopic {
  seq: number;
  epoch: string;
  /** the epoch began after this seq */
  base: number;
  previous: string | null;
  /** retained, oldest first */
  messages: StoredMessage[];
}

/** A message on a topic's channel, not yet handed to the hub. */
export interface ChannelMessage {
  topic: string;
  seq: number;
  epoch: string;
  data: Buffer;
  origin: number;
}

export type CallKind = 'publish' | 'follow' | 'read' | 'presenceList';

/** A call held by `gate`: answer it (the work runs now) or fail it (nothing happens). */
export interface PendingCall {
  kind: CallKind;
  topic: string;
  answer(): void;
  fail(err?: unknown): void;
}

export class FakeBroker implements SharedBroker {
  readonly name = 'fake';
  /** modelled on Redis: another process */
  readonly inProcess = false;
  readonly keepsPresence = true;
  state: BrokerState = 'connecting';
  events!: BrokerEvents;
  /** messages retained per topic */
  history = 100;
  readonly topics = new Map<string, FakeTopic>();
  readonly followed = new Set<string>();
  /** every call the hub made, as "kind topic detail", in order */
  readonly calls: string[] = [];
  /** deliver on the channel as the publish runs (true), or queue in `channel` for the test */
  autoDeliver = true;
  readonly channel: ChannelMessage[] = [];
  readonly pending: PendingCall[] = [];
  /** presence entries by topic, client -> user */
  readonly present = new Map<string, Map<string, string>>();
  private readonly gated = new Map<CallKind, 'at-answer' | 'at-call'>();
  private readonly keys = new Map<string, number>();
  private epochs = 0;
  private readonly bootId = randomBytes(3).toString('hex');

  get ready(): boolean {
    return this.state === 'up';
  }

  health(): BrokerHealth {
    return this.ready ? { broker: this.name, state: this.state } : { broker: this.name, state: this.state, reason: 'fake outage' };
  }

  async start(events: BrokerEvents): Promise<void> {
    this.events = events;
    this.state = 'up';
  }

  async stop(): Promise<void> {
    this.state = 'stopped';
  }

  // ---- what the test does ----

  /**
   * Calls of `kind` wait in `pending` from now on. `at-answer`: the broker does the work when the
   * test answers (a command stuck on its way); `at-call`: it does it at once and only the reply
   * is late (Redis ran the script; its channel message may reach the hub before the reply).
   */
  gate(kind: CallKind, when: 'at-answer' | 'at-call' = 'at-answer'): void {
    this.gated.set(kind, when);
  }

  ungate(kind: CallKind): void {
    this.gated.delete(kind);
  }

  /** The first pending call of `kind` (throws when none: the test expected one). */
  take(kind: CallKind): PendingCall {
    const i = this.pending.findIndex((p) => p.kind === kind);
    if (i === -1) throw new Error(`no pending ${kind} call (calls: ${this.calls.join(', ')})`);
    return this.pending.splice(i, 1)[0]!;
  }

  /** Numbers and retains a message as a publish from another node would, queued or delivered like one. */
  publishElsewhere(topic: string, data: unknown): number {
    return this.append(topic, Buffer.from(JSON.stringify(data)), -1).seq;
  }

  /** Hands the hub queued channel messages: those with the given seqs (of `topic`), or all, in queue order. */
  deliver(topic?: string, ...seqs: number[]): void {
    const take = this.channel.filter((m) => (topic === undefined || m.topic === topic) && (seqs.length === 0 || seqs.includes(m.seq)));
    const ordered = seqs.length === 0 ? take : seqs.map((s) => take.find((m) => m.seq === s)!);
    for (const m of ordered) {
      this.channel.splice(this.channel.indexOf(m), 1);
      this.inject(m);
    }
  }

  /** Drops queued channel messages of `topic` with these seqs: the hub never sees them (a gap). */
  drop(topic: string, ...seqs: number[]): void {
    for (const seq of seqs) {
      const i = this.channel.findIndex((m) => m.topic === topic && m.seq === seq);
      if (i !== -1) this.channel.splice(i, 1);
    }
  }

  /** Hands the hub one channel message as it is. */
  inject(m: ChannelMessage): void {
    this.events.publication(m.topic, m.seq, m.epoch, m.data, m.origin);
  }

  /** Redis lost the topic (a restart without data, an eviction): the next publish starts epoch 2 at seq 1. */
  lose(topic: string): void {
    this.topics.delete(topic);
    for (const k of [...this.keys.keys()]) if (k.startsWith(`${topic} `)) this.keys.delete(k);
  }

  /**
   * Redis lost publishes (a restart from an older snapshot): the topic's record gets a new epoch
   * that begins after its current seq, and its stream (the previous epoch's tail) is kept.
   */
  renew(topic: string): void {
    const t = this.topics.get(topic)!;
    t.previous = t.epoch;
    t.epoch = `${this.bootId}-${++this.epochs}`;
    t.base = t.seq;
  }

  /** Keeps only the newest `n` retained messages of `topic`. */
  trim(topic: string, n: number): void {
    const t = this.topics.get(topic)!;
    t.messages = n === 0 ? [] : t.messages.slice(-n);
  }

  /** The links are lost: requests are refused until up(). */
  down(): void {
    this.state = 'down';
  }

  /** The links are back: catching up while the hub checks its topics, then up. */
  async up(): Promise<void> {
    this.state = 'catching_up';
    await this.events.restored();
    this.state = 'up';
  }

  // ---- SharedBroker ----

  publish(topic: string, data: Uint8Array, origin: number, key: string | undefined): Promise<Published> {
    this.calls.push(`publish ${topic} origin=${origin}${key === undefined ? '' : ` key=${key}`}`);
    return this.run('publish', topic, () => {
      this.mustBeUp(false);
      if (key !== undefined) {
        const first = this.keys.get(`${topic} ${key}`);
        if (first !== undefined) return { seq: first, epoch: this.topics.get(topic)!.epoch, duplicate: true, nodes: 0 };
      }
      const m = this.append(topic, Buffer.from(data), origin);
      if (key !== undefined) this.keys.set(`${topic} ${key}`, m.seq);
      return { seq: m.seq, epoch: m.epoch, duplicate: false, nodes: this.followed.has(topic) ? 1 : 0 };
    });
  }

  follow(topic: string): Promise<void> {
    this.calls.push(`follow ${topic}`);
    this.followed.add(topic);
    return this.run('follow', topic, () => this.mustBeUp(false));
  }

  unfollow(topic: string): void {
    this.calls.push(`unfollow ${topic}`);
    this.followed.delete(topic);
  }

  read(topic: string, after: number | 'newest', count: number, create: boolean, bytes: number): Promise<TopicState> {
    this.calls.push(`read ${topic} ${after}${create ? ' create' : ''}`);
    return this.run('read', topic, () => {
      this.mustBeUp(true);
      let t = this.topics.get(topic);
      if (t === undefined) {
        if (!create) return { seq: 0, epoch: null, oldest: 0, base: 0, previous: null, messages: [] };
        t = this.record(topic);
      }
      const retained = t.messages;
      const from = after === 'newest' ? retained.slice(-count) : retained.filter((m) => m.seq > after).slice(0, count);
      // at least one, then within `bytes` (the oldest end is cut for 'newest', the newest end otherwise)
      const kept: StoredMessage[] = [];
      let used = 0;
      const walk = after === 'newest' ? [...from].reverse() : from;
      for (const m of walk) {
        if (kept.length > 0 && used + m.data.length > bytes) break;
        used += m.data.length;
        kept.push(m);
      }
      if (after === 'newest') kept.reverse();
      const oldest = retained.find((m) => m.seq > t.base)?.seq ?? 0;
      return { seq: t.seq, epoch: t.epoch, oldest, base: t.base, previous: t.previous, messages: kept };
    });
  }

  presence(topic: string, op: 'join' | 'leave' | 'refresh', clients: readonly { client: string; user: string }[]): void {
    this.calls.push(`presence ${topic} ${op} ${clients.map((c) => c.client).join(',')}`);
    if (this.state !== 'up' && this.state !== 'catching_up') return; // as RedisBroker.presence
    const table = this.present.get(topic) ?? new Map<string, string>();
    this.present.set(topic, table);
    for (const c of clients) {
      if (op === 'leave') table.delete(c.client);
      else table.set(c.client, c.user);
    }
  }

  presenceList(topic: string, limit: number): Promise<PresenceList> {
    this.calls.push(`presenceList ${topic}`);
    return this.run('presenceList', topic, () => {
      this.mustBeUp(false);
      const entries = [...(this.present.get(topic) ?? new Map<string, string>())];
      return { count: entries.length, clients: entries.slice(0, limit).map(([client, user]) => ({ client, user })) };
    });
  }

  members(topic: string, count: number): void {
    this.calls.push(`members ${topic} ${count}`);
  }

  // ---- inside ----

  private run<T>(kind: CallKind, topic: string, work: () => T): Promise<T> {
    const when = this.gated.get(kind);
    const attempt = (): { ok: true; value: T } | { ok: false; err: unknown } => {
      try {
        return { ok: true, value: work() };
      } catch (err) {
        return { ok: false, err };
      }
    };
    if (when === undefined) {
      const r = attempt();
      return r.ok ? Promise.resolve(r.value) : Promise.reject(r.err);
    }
    const early = when === 'at-call' ? attempt() : undefined;
    return new Promise<T>((resolve, reject) => {
      this.pending.push({
        kind,
        topic,
        answer: () => {
          const r = early ?? attempt();
          if (r.ok) resolve(r.value);
          else reject(r.err);
        },
        fail: (err = new BrokerUnavailableError('the broker failed; retry later')) => reject(err),
      });
    });
  }

  private record(topic: string): FakeTopic {
    const t: FakeTopic = { seq: 0, epoch: `${this.bootId}-${++this.epochs}`, base: 0, previous: null, messages: [] };
    this.topics.set(topic, t);
    return t;
  }

  /** Numbers, retains and sends one message on the topic's channel (when followed). */
  private append(topic: string, data: Buffer, origin: number): ChannelMessage {
    const t = this.topics.get(topic) ?? this.record(topic);
    const seq = ++t.seq;
    t.messages.push({ seq, data });
    if (t.messages.length > this.history) t.messages.shift();
    const m: ChannelMessage = { topic, seq, epoch: t.epoch, data, origin };
    if (this.followed.has(topic)) {
      if (this.autoDeliver) this.inject(m);
      else this.channel.push(m);
    }
    return m;
  }

  /** As Redis's mustBeUp: the hub's own reads run while catching up too. */
  private mustBeUp(catchingUp: boolean): void {
    if (this.state !== 'up' && !(catchingUp && this.state === 'catching_up'))
      throw new BrokerUnavailableError(`the broker is ${this.state}; retry later`);
  }
}
