// The hub's replica of the topics its broker numbers (the in-process broker, Redis, or the main
// thread of --workers). A topic is followed on the broker's channel while it has local subscribers; what
// arrives is delivered when it is the next seq, else held and the gap read back from the
// broker's history first; what cannot be read back is announced with a resync frame, so a
// subscriber never sees a seq jump without one (docs/scaling.md). The hub hands it the topics and
// delivers for it; it keeps the order.
import { performance } from 'node:perf_hooks';
import {
  BrokerUnavailableError,
  settle,
  andThen,
  type Answer,
  type BrokerEvents,
  type PresenceList,
  type SharedBroker,
  type TopicState,
} from '../broker/types.js';
import type { Metrics } from '../metrics.js';
import { encodeMsg, encodeResync } from '../protocol/encode.js';
import type { DeflateOptions } from '../protocol/deflate.js';
import type { Arrival, Topic } from './topic.js';
import type { TopicStore } from './topics.js';

/** Arrivals held per topic while it repairs; past it they are dropped and read back. */
const MAX_HELD_ARRIVALS = 10_000;
/** Topics checked against the broker at once after an outage. */
const CATCH_UP_CONCURRENCY = 32;
/** Reads of topic copies (each up to the copy budget) running at once on a node. */
const COPY_READS = 16;

/** What the replica needs of the hub. */
export interface ReplicaHub {
  readonly topics: TopicStore;
  /** retained messages per topic (--history): what a read of a topic's copy asks for */
  readonly history: number;
  /** bytes one read of a topic's copy may bring (sync, catch-up, resync) */
  readonly copyBudget: number;
  /** message `seq` of `topic` to its local subscribers but `exclude`, retained */
  deliver(topic: Topic, seq: number, data: Uint8Array, exclude: number, start?: number, frames?: Arrival['frames']): number;
  /** a frame to every local subscriber of `topic` */
  tell(topic: Topic, frame: Buffer): void;
  /** deflate options while a local connection negotiated permessage-deflate */
  deflateNow(): DeflateOptions | undefined;
  /** the topic could not be followed: its subscribers are told and it is dropped */
  syncFailed(topic: Topic, err: unknown): void;
  /** who is present on a topic as this hub's members see it (a broker that keeps no presence asks) */
  present(name: string, limit: number): PresenceList;
  /** a presence join or leave made on another node */
  presence(topic: Topic, op: 'join' | 'leave', client: string, user: string): void;
  /** the links are back: write this node's presence again */
  refreshPresence(): void;
  log(op: string, topic: string, err: unknown): void;
}

export class Replica {
  /** topic-copy reads running, and the ones waiting for a slot (readCopy) */
  private copyReads = 0;
  private readonly copyQueue: (() => void)[] = [];
  /**
   * Topics whose epoch is their first (it began at seq 0 with no epoch before it). A client that
   * subscribed before the topic's first publish was told epoch "" (no record yet); its position
   * resumes in this epoch, and its acks keep saying "" (docs/scaling.md).
   */
  private readonly firstEpochs = new WeakSet<Topic>();

  constructor(
    private readonly shared: SharedBroker,
    private readonly hub: ReplicaHub,
    private readonly metrics: Metrics,
  ) {}

  /** The broker's view of the hub: what it delivers and asks. */
  events(): BrokerEvents {
    return {
      publication: (topic, seq, epoch, data, exclude, frames) => this.arrive(topic, { seq, epoch, data, exclude, frames }),
      presence: (name, op, client, user) => {
        const topic = this.hub.topics.get(name);
        if (topic !== undefined) this.hub.presence(topic, op, client, user);
      },
      restored: () => this.restored(),
      top: (name, seq, epoch) => this.checkTop(name, seq, epoch),
      missed: (name) => this.readBack(name),
      followed: () => this.followed(),
      present: (name, limit) => this.hub.present(name, limit),
    };
  }

  /** The topic's epoch is its first: a client told "" resumes in it. */
  firstEpoch(topic: Topic): boolean {
    return this.firstEpochs.has(topic);
  }

  /**
   * The first local interest in a topic: subscribe its channel (confirmed), then read its seq,
   * epoch and newest messages. What arrives on the channel meanwhile is held and merged by seq,
   * so the requests waiting (and the first live messages) see no gap and no duplicate. With a
   * broker that answers in the call (the in-process one) the topic is live when this returns.
   */
  sync(topic: Topic): void | Promise<void> {
    topic.phase = 'syncing';
    return settle(
      () =>
        andThen(this.shared.follow(topic.name), () =>
          // a subscription makes no record in Redis: a topic never published has epoch "" here.
          // The in-process broker makes one (its --max-topics counts subscriptions)
          topic.dropped ? undefined : this.readCopy(topic.name, 'newest', this.shared.inProcess),
        ),
      (state) => {
        if (state !== undefined && !topic.dropped) this.synced(topic, state);
      },
      (err) => {
        if (!topic.dropped) this.hub.syncFailed(topic, err);
      },
    );
  }

  private synced(topic: Topic, state: TopicState): void {
    this.adopt(topic, state);
    topic.phase = 'live';
    for (const w of topic.waiting.splice(0)) w.answer();
    const dropped = topic.repairAgain; // arrivals overflowed while syncing: read them back
    this.release(topic);
    if (dropped && topic.phase === 'live') void this.repair(topic);
  }

  /** A topic left the store (no local subscribers for a while, or a bound): stop following it. */
  forget(topic: Topic): void {
    topic.held = [];
    topic.heldBytes = 0;
    this.shared.unfollow(topic.name);
  }

  /**
   * A read of a topic's copy (sync, catch-up, resync): at most COPY_READS at once over the node,
   * so many first subscriptions at once (or a catch-up of every topic) hold at most
   * COPY_READS x copyBudget bytes of replies, not one budget per topic.
   */
  private readCopy(name: string, after: number | 'newest', create: boolean): Answer<TopicState> {
    if (this.copyReads >= COPY_READS) {
      return new Promise<void>((resolve) => this.copyQueue.push(resolve)).then(() => this.readIn(name, after, create));
    }
    this.copyReads++;
    return this.readIn(name, after, create);
  }

  /** One read of a copy in a slot, which passes on once it is answered (at once, from a broker that answers in the call). */
  private readIn(name: string, after: number | 'newest', create: boolean): Answer<TopicState> {
    let answer: Answer<TopicState>;
    try {
      answer = this.shared.read(name, after, this.hub.history, create, this.hub.copyBudget);
    } catch (err) {
      this.passSlot();
      throw err;
    }
    if (!(answer instanceof Promise)) {
      this.passSlot();
      return answer;
    }
    return answer.finally(() => this.passSlot());
  }

  private passSlot(): void {
    const next = this.copyQueue.shift();
    if (next !== undefined)
      next(); // the slot passes on
    else this.copyReads--;
  }

  /** Takes the broker's state of a topic as ours: seq, epoch and the retained copy. */
  private adopt(topic: Topic, state: TopicState): void {
    const topics = this.hub.topics;
    topics.clearHistory(topic);
    topic.epoch = state.epoch ?? '';
    topic.seq = state.seq;
    if (state.epoch !== null && state.base === 0 && state.previous === null) this.firstEpochs.add(topic);
    else this.firstEpochs.delete(topic);
    const deflate = this.hub.deflateNow();
    for (const m of state.messages) {
      if (m.seq <= state.base) continue; // the previous epoch's
      // the broker's own frames (the in-process broker): the same buffers, not a second copy
      const msg =
        m.frames !== undefined && (deflate === undefined || m.frames.deflated) ? m.frames : encodeMsg(topic.json, m.seq, m.data, deflate);
      topics.retain(topic, {
        seq: m.seq,
        frame: msg.frame,
        compressed: msg.compressed,
        dataStart: msg.dataStart,
        dataEnd: msg.dataEnd,
      });
    }
  }

  /**
   * A message from the broker's channel: delivered when it is the next one, else held and the gap
   * repaired. Returns the connections it reached now.
   */
  private arrive(name: string, a: Arrival): number {
    const topic = this.hub.topics.get(name);
    if (topic === undefined || topic.dropped) return 0; // not followed any more
    if (topic.phase === 'stale' && this.shared.ready) {
      // a repair read failed while the links stayed up (one command past --broker-timeout, an
      // error reply): no restored() will come, so this arrival retries
      this.hold(topic, a);
      void this.repair(topic);
      return 0;
    }
    if (topic.phase !== 'live') {
      this.hold(topic, a);
      return 0;
    }
    if (topic.epoch === '' && topic.seq === 0 && a.seq === 1) {
      // the topic's first publish made its record and epoch: the next message, not a new sequence
      topic.epoch = a.epoch;
      this.firstEpochs.add(topic);
    }
    if (a.epoch === topic.epoch) {
      if (a.seq === topic.seq + 1) return this.hub.deliver(topic, a.seq, a.data, a.exclude, performance.now(), a.frames);
      if (a.seq <= topic.seq) return 0; // a catch-up delivered it already
    }
    // a seq gap (messages missed while a link was down) or a new epoch (Redis lost the topic)
    this.hold(topic, a);
    void this.repair(topic);
    return 0;
  }

  private hold(topic: Topic, a: Arrival): void {
    if (topic.held.length >= MAX_HELD_ARRIVALS || topic.heldBytes + a.data.length > this.hub.copyBudget) {
      // too many to hold: drop them; the repair that follows reads them back from the broker
      topic.held = [];
      topic.heldBytes = 0;
      topic.repairAgain = true;
    }
    topic.held.push(a);
    topic.heldBytes += a.data.length;
  }

  /** Delivers what was held while the topic could not, in order (a new gap starts a repair). */
  private release(topic: Topic): void {
    const held = topic.held;
    topic.held = [];
    topic.heldBytes = 0;
    for (let i = 0; i < held.length; i++) {
      if (topic.phase !== 'live') {
        for (const a of held.slice(i)) this.hold(topic, a);
        return;
      }
      this.arrive(topic.name, held[i]!);
    }
  }

  /**
   * Reads from the broker what this node missed of `topic` and delivers it in order before what
   * was held. When the broker cannot give it (another epoch, or older than its history), the
   * subscribers get a resync frame (topic, epoch, seq) and delivery continues from there: a
   * subscriber never sees a seq jump without one.
   */
  private async repair(topic: Topic): Promise<void> {
    if (topic.phase === 'repairing' || topic.phase === 'syncing') {
      topic.repairAgain = true;
      return;
    }
    topic.phase = 'repairing';
    this.metrics.brokerCatchups.inc();
    try {
      let more = false;
      do {
        topic.repairAgain = false;
        // a record Redis lost under subscribers is made again, so the resync can name its epoch
        const state = await this.readCopy(topic.name, topic.seq, topic.epoch !== '');
        if (topic.dropped) return;
        const first = state.messages[0];
        if (topic.epoch === '' && topic.seq === 0 && state.epoch !== null && state.base === 0 && state.previous === null) {
          topic.epoch = state.epoch; // published for the first time while this node was not looking
          this.firstEpochs.add(topic);
        }
        if ((state.epoch ?? '') === topic.epoch && (state.seq === topic.seq || first?.seq === topic.seq + 1)) {
          const before = topic.seq;
          this.catchUp(topic, state.messages, state.seq);
          more = topic.seq > before && topic.seq < state.seq; // a read is bounded in bytes: go on
        } else {
          more = false;
          // another epoch. When it follows the one this node is in, the broker may still hold
          // the end of ours (taken just before a crash, never published): delivered first.
          if (state.previous === topic.epoch && first?.seq === topic.seq + 1) this.catchUp(topic, state.messages, state.base);
          await this.resync(topic);
          if (topic.dropped) return;
        }
      } while (topic.repairAgain || more);
    } catch (err) {
      if (topic.dropped) return;
      // hold what arrives until the read can be made: restored() repairs again when the links
      // come back; while they stay up, the next arrival or periodic check (checkTop) does
      topic.phase = 'stale';
      this.hub.log('repair', topic.name, err);
      return;
    }
    topic.phase = 'live';
    this.release(topic);
  }

  /** Delivers the messages that follow the topic's seq, up to `last`, in order. */
  private catchUp(topic: Topic, messages: readonly { seq: number; data: Buffer }[], last: number): void {
    let n = 0;
    for (const m of messages) {
      if (m.seq > last) break;
      if (m.seq !== topic.seq + 1) continue;
      this.hub.deliver(topic, m.seq, m.data, -1);
      n++;
    }
    this.metrics.brokerCatchupMessages.inc(n);
  }

  /**
   * The broker cannot continue from where this node's subscribers are (a new epoch, or a gap
   * older than its history): they get a resync frame naming the epoch and the seq after which
   * delivery goes on, then every message the broker still retains after that seq. A new epoch's
   * stream holds only that epoch's messages, so what was published since the epoch began (and
   * is retained) is delivered, not skipped.
   */
  private async resync(topic: Topic): Promise<void> {
    const state = await this.readCopy(topic.name, 'newest', topic.epoch !== '');
    if (topic.dropped) return;
    const current = state.messages.filter((m) => m.seq > state.base);
    const from = current.length > 0 ? current[0]!.seq - 1 : state.seq;
    this.adopt(topic, { ...state, seq: from, messages: [] });
    this.metrics.brokerResyncs.inc();
    this.hub.tell(topic, encodeResync(topic.json, topic.epoch, from));
    for (const m of current) this.hub.deliver(topic, m.seq, m.data, -1);
    // held arrivals of the old epoch, or delivered just now, are dropped by arrive()
  }

  /** After an outage: every followed topic is checked against the broker, then presence is written again. */
  private async restored(): Promise<void> {
    const topics = [...this.followed()].map((name) => this.hub.topics.get(name)!);
    let next = 0;
    const worker = async () => {
      while (next < topics.length) {
        const topic = topics[next++]!;
        if (topic.dropped || topic.phase === 'syncing') continue;
        if (topic.phase === 'stale') topic.phase = 'live';
        await this.repair(topic);
        if ((topic.phase as string) === 'stale') throw new BrokerUnavailableError(`catch-up of ${topic.name} failed`);
      }
    };
    await Promise.all(Array.from({ length: Math.min(CATCH_UP_CONCURRENCY, topics.length) }, worker));
    this.hub.refreshPresence();
  }

  /** The periodic check: a broker seq ahead of ours twice in a row is a lost message (or a new epoch). */
  private checkTop(name: string, seq: number, epoch: string | null): void {
    const topic = this.hub.topics.get(name);
    if (topic === undefined) return;
    // stale with the links up: the repair read failed alone, and nothing else would retry it
    if (topic.phase === 'stale' && this.shared.ready) return void this.repair(topic);
    if (topic.phase !== 'live') return;
    if (epoch === null) {
      // the record is gone under subscribers that knew it (evicted by Redis, or Redis lost it):
      // they are told now, not at the next publish
      if (topic.epoch !== '') void this.repair(topic);
      return;
    }
    if (epoch !== topic.epoch || (seq > topic.seq && topic.brokerAhead !== 0 && topic.seq < topic.brokerAhead)) {
      topic.brokerAhead = 0;
      void this.repair(topic);
      return;
    }
    topic.brokerAhead = seq > topic.seq ? seq : 0;
  }

  /** The broker skipped messages of `name` for this hub: read back what follows its seq (after a sync under way). */
  private readBack(name: string): void {
    const topic = this.hub.topics.get(name);
    if (topic === undefined) return;
    if (topic.phase === 'stale' && !this.shared.ready) return; // restored() repairs it
    void this.repair(topic);
  }

  /** The topics followed and synced: the ones the broker's periodic check and a catch-up look at. */
  private *followed(): Iterable<string> {
    for (const name of this.hub.topics.names()) {
      const topic = this.hub.topics.get(name)!;
      if (topic.phase !== 'syncing') yield name;
    }
  }
}
