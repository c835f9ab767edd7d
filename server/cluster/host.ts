// The main thread's side of the workers' broker: ONE broker for the process (memory: this
// thread numbers every topic; redis: one pair of Redis connections, each channel subscribed
// once), shared by every worker. A topic is followed once, for every worker that follows it; a
// message is encoded (and compressed) once, and each following worker gets its frames as memory
// of its own, moved to it with the batch; each worker's queue leaves in one postMessage per turn.
// Slightly over ~450 lines: the routing table (who follows what), the per-worker queues and the
// lag handling share one Link per worker; the worker's side is main-link.ts and broker-proxy.ts.
import type { Logger } from 'pino';
import {
  BrokerRefusedError,
  BrokerTimeoutError,
  BrokerTopicLimitError,
  BrokerUnavailableError,
  type BrokerEvents,
  type Published,
  type SharedBroker,
} from '../broker/types.js';
import type { DeflateOptions } from '../protocol/deflate.js';
import { encodeMsg, jsonAscii } from '../protocol/encode.js';
import type { Call, CallError, CallResult, MainItem, MsgItem, PresenceOp, ToWorker, WorkerItem } from './messages.js';

/** What the host needs of a worker thread. */
export interface WorkerPort {
  postMessage(message: ToWorker, transfer?: readonly ArrayBuffer[]): void;
}

/**
 * A frame's bytes in an ArrayBuffer of their own, to move to a worker. Not shared memory: a
 * SharedArrayBuffer is freed only once every thread that saw it has collected its wrapper, and V8
 * does not count it towards collecting, so a worker whose JavaScript makes little garbage (the
 * uring transport's) held hundreds of MiB of dropped frames between its collections. A moved
 * ArrayBuffer is the worker's alone and is counted by its heap.
 */
function own(bytes: Buffer): Buffer {
  const copy = Buffer.allocUnsafeSlow(bytes.length);
  copy.set(bytes);
  return copy;
}
/** How often a lagging worker is checked for having caught up (ms). */
const LAG_CHECK_MS = 50;
/** Origins (connection ids) carry the worker index in their low bits: ids stay below 2^53. */
const ORIGIN_SPAN = 512;

/** One worker as the host sees it. */
class Link {
  outbox: MainItem[] = [];
  /** the frames' memory in `outbox`, moved to the worker with it */
  private transfer: ArrayBuffer[] = [];
  /** message bytes in `outbox` */
  outboxBytes = 0;
  /** batches posted: their number (1, 2, ...) and message bytes, until the worker has taken them in */
  private readonly posted: { n: number; bytes: number }[] = [];
  private batches = 0;
  /** message bytes posted or queued and not yet taken in */
  queuedBytes = 0;
  /** too far behind: messages are not queued until it catches up; then it reads these topics back */
  lagging = false;
  readonly skipped = new Set<string>();
  /** topics this worker follows */
  readonly follows = new Set<string>();
  /** subscribers per topic on this worker, as it reported them */
  readonly members = new Map<string, number>();
  /** presence entries this worker holds: topic -> client -> user (left for it when it dies) */
  readonly present = new Map<string, Map<string, string>>();
  dead = false;
  /** it has connections that negotiated permessage-deflate */
  deflating = false;

  constructor(
    readonly index: number,
    readonly port: WorkerPort,
    /** batches the worker has taken in (a counter it keeps in shared memory) */
    private readonly consumed: () => number,
  ) {}

  push(item: MainItem, host: BrokerHost, bytes = 0): void {
    if (this.dead) return;
    if (item.k === 'msg') {
      this.transfer.push(item.frame.buffer as ArrayBuffer);
      if (item.compressed !== undefined) this.transfer.push(item.compressed.buffer as ArrayBuffer);
    }
    this.outbox.push(item);
    this.outboxBytes += bytes;
    this.queuedBytes += bytes;
    host.scheduleFlush();
  }

  /** Posts the outbox as one batch. */
  post(): void {
    const items = this.outbox;
    const transfer = this.transfer;
    this.outbox = [];
    this.transfer = [];
    this.port.postMessage({ t: 'batch', items }, transfer);
    // only batches with message bytes are remembered: settle() runs when messages are queued (or
    // /metrics is read), so a worker that only gets replies and connections would grow the list for ever
    this.batches++;
    if (this.outboxBytes > 0) this.posted.push({ n: this.batches, bytes: this.outboxBytes });
    this.outboxBytes = 0;
  }

  /** Forgets the batches the worker has taken in; returns the bytes still waiting. */
  settle(): number {
    const done = this.consumed();
    while (this.posted.length > 0 && this.posted[0]!.n <= done) this.queuedBytes -= this.posted.shift()!.bytes;
    return this.queuedBytes;
  }
}

/** A topic followed by some workers: its channel is followed once. */
interface Followed {
  links: Set<Link>;
  /** the broker's follow, while it is being made */
  pending: Promise<void> | undefined;
  /** follows waiting for `pending` */
  waiting: number;
}

export class BrokerHost {
  private readonly links: (Link | undefined)[] = [];
  private readonly followed = new Map<string, Followed>();
  private flushScheduled = false;
  /** restore requests in flight: id -> workers still to answer */
  private readonly restores = new Map<number, { left: Set<number>; done: () => void }>();
  private nextRestore = 1;
  private lagTimer: NodeJS.Timeout | undefined;
  /** messages not queued to a lagging worker */
  overflows = 0;
  /** answers the `metrics` call (every worker's registry and the main thread's, added up) */
  metricsText: () => Promise<{ contentType: string; text: string }> = () => Promise.resolve({ contentType: 'text/plain', text: '' });

  constructor(
    readonly broker: SharedBroker,
    /** the process's logger (its lines name the worker they are about) */
    private readonly log: Logger,
    /** permessage-deflate, when on: a message is compressed once if any worker that gets it needs it */
    private readonly deflate: DeflateOptions | undefined,
    /**
     * Message bytes a worker may have waiting (posted, not taken in). A worker whose event loop
     * stalls would otherwise make the main thread hold every message for it: past this, its
     * messages are skipped, and once it has caught up it reads them back from the broker like a
     * node that missed messages on a Redis channel.
     */
    private readonly queueLimit: number,
  ) {}

  start(): Promise<void> {
    return this.broker.start(this.events());
  }

  attach(index: number, port: WorkerPort, consumed: () => number): void {
    this.links[index] = new Link(index, port, consumed);
  }

  /** Message bytes worker `index` has not taken in yet. */
  queuedBytes(index: number): number {
    return this.links[index]?.settle() ?? 0;
  }

  /** The worker is gone: its follows are dropped, and its clients leave presence on every other worker and node. */
  detach(index: number): void {
    const link = this.links[index];
    if (link === undefined) return;
    link.dead = true;
    this.links[index] = undefined;
    for (const topic of link.follows) this.unfollow(link, topic);
    for (const [topic, clients] of link.present) {
      const list = [...clients].map(([client, user]) => ({ client, user }));
      this.broker.presence(topic, 'leave', list);
      for (const { client, user } of list) this.announce(link, topic, 'leave', client, user);
    }
    link.present.clear();
    if (link.deflating) this.deflatingChanged();
    for (const [id, r] of this.restores) this.restoredBy(id, index, r);
  }

  /** A batch from worker `index`. */
  receive(index: number, items: readonly WorkerItem[]): void {
    const link = this.links[index];
    if (link === undefined) return;
    for (const item of items) {
      switch (item.k) {
        case 'call':
          this.call(link, item.id, item.call);
          break;
        case 'unfollow':
          if (link.follows.delete(item.topic)) this.unfollow(link, item.topic);
          break;
        case 'presence':
          this.presence(link, item.topic, item.op, item.clients);
          break;
        case 'deflating':
          link.deflating = item.on;
          this.deflatingChanged();
          break;
        case 'members':
          if (item.count === 0) link.members.delete(item.topic);
          else link.members.set(item.topic, item.count);
          break;
      }
    }
  }

  /** The broker encodes compressed twins while some worker has connections that negotiated permessage-deflate. */
  private deflatingChanged(): void {
    this.broker.deflating?.(this.links.some((l) => l?.deflating === true));
  }

  /** Hands an accepted connection (its fd in `slot` of the worker's hand-off array) to worker `index`. */
  handOver(index: number, slot: number): boolean {
    const link = this.links[index];
    if (link === undefined) return false;
    link.push({ k: 'fd', slot }, this);
    return true;
  }

  /** Asks every worker to repair its held topics (the broker's links are back); settles when all did. */
  private restoreAll(): Promise<void> {
    const live = this.links.filter((l): l is Link => l !== undefined);
    if (live.length === 0) return Promise.resolve();
    const id = this.nextRestore++;
    return new Promise<void>((resolve) => {
      this.restores.set(id, { left: new Set(live.map((l) => l.index)), done: resolve });
      for (const l of live) l.port.postMessage({ t: 'restore', id });
    });
  }

  /** Worker `index` answered restore `id` (or died). */
  restored(id: number, index: number, error: string | undefined): void {
    const r = this.restores.get(id);
    if (error !== undefined) this.log.warn({ event: 'worker_restore_failed', worker: index, err: error }, error);
    if (r !== undefined) this.restoredBy(id, index, r);
  }

  private restoredBy(id: number, index: number, r: { left: Set<number>; done: () => void }): void {
    r.left.delete(index);
    if (r.left.size > 0) return;
    this.restores.delete(id);
    r.done();
  }

  // ---- the broker's events, routed to the workers that follow ----

  private events(): BrokerEvents {
    return {
      publication: (topic, seq, epoch, data, exclude, frames) => {
        const f = this.followed.get(topic);
        if (f === undefined || f.links.size === 0) return 0;
        let deflate: DeflateOptions | undefined;
        if (this.deflate !== undefined) for (const link of f.links) if (link.deflating) deflate = this.deflate;
        // the in-process broker's frames serve when they have the compressed twin needed; else
        // encoded (and compressed) once here, each frame in an ArrayBuffer of its own (allocUnsafeSlow)
        const made = frames !== undefined && (deflate === undefined || frames.deflated);
        const msg = made ? frames : encodeMsg(jsonAscii(topic), seq, data, deflate);
        if (made) deflate = frames.deflated ? this.deflate : undefined;
        const from = exclude < 0 ? -1 : exclude % ORIGIN_SPAN;
        const conn = exclude < 0 ? -1 : Math.floor(exclude / ORIGIN_SPAN);
        const bytes = msg.frame.length + (msg.compressed?.length ?? 0);
        const to: Link[] = [];
        for (const link of f.links) {
          if (link.lagging || link.settle() + bytes > this.queueLimit) this.skip(link, topic);
          else to.push(link);
        }
        // the last worker gets the frames encoded here, the others a copy each: a moved buffer is
        // gone here. The broker's frames stay in its history: every worker gets a copy of them
        for (let i = 0; i < to.length; i++) {
          const link = to[i]!;
          const last = i === to.length - 1 && !made;
          const item: MsgItem = {
            k: 'msg',
            topic,
            seq,
            epoch,
            exclude: link.index === from ? conn : -1,
            frame: last ? msg.frame : own(msg.frame),
            compressed: msg.compressed === undefined || last ? msg.compressed : own(msg.compressed),
            dataStart: msg.dataStart,
            dataEnd: msg.dataEnd,
            deflated: deflate !== undefined,
          };
          link.push(item, this, bytes);
        }
        return 0;
      },
      presence: (topic, op, client, user) => this.announce(undefined, topic, op, client, user),
      restored: () => this.restoreAll(),
      top: (topic, seq, epoch) => {
        for (const link of this.followed.get(topic)?.links ?? []) link.push({ k: 'top', topic, seq, epoch }, this);
      },
      missed: (topic) => {
        for (const link of this.followed.get(topic)?.links ?? []) link.push({ k: 'missed', topic }, this);
      },
      followed: () => this.followed.keys(),
    };
  }

  /** A message is not queued to a worker that is too far behind; it will read the topic back. */
  private skip(link: Link, topic: string): void {
    this.overflows++;
    link.skipped.add(topic);
    if (!link.lagging) {
      link.lagging = true;
      this.log.warn(
        { event: 'worker_lagging', worker: link.index, queuedBytes: link.queuedBytes },
        `worker ${link.index} is behind: skipping its messages`,
      );
    }
    if (this.lagTimer === undefined) {
      this.lagTimer = setInterval(() => this.checkLagging(), LAG_CHECK_MS);
      this.lagTimer.unref();
    }
  }

  /**
   * A lagging worker that has taken in half of what waited gets messages again, and a `missed`
   * for each topic it missed: its hub reads back what follows its seq.
   */
  private checkLagging(): void {
    let lagging = 0;
    for (const link of this.links) {
      if (link === undefined || !link.lagging) continue;
      if (link.settle() > this.queueLimit / 2) {
        lagging++;
        continue;
      }
      link.lagging = false;
      for (const topic of link.skipped) if (link.follows.has(topic)) link.push({ k: 'missed', topic }, this);
      link.skipped.clear();
      this.log.info({ event: 'worker_caught_up', worker: link.index }, `worker ${link.index} caught up: reading back what it missed`);
    }
    if (lagging === 0) {
      clearInterval(this.lagTimer);
      this.lagTimer = undefined;
    }
  }

  /** A join or leave to every other worker that follows the topic. */
  private announce(from: Link | undefined, topic: string, op: 'join' | 'leave', client: string, user: string): void {
    for (const link of this.followed.get(topic)?.links ?? []) {
      if (link !== from) link.push({ k: 'presence', topic, op, client, user }, this);
    }
  }

  // ---- calls ----

  private call(link: Link, id: number, call: Call): void {
    this.serve(link, call).then(
      (value) => link.push({ k: 're', id, ok: true, value }, this),
      (err: unknown) => link.push({ k: 're', id, ok: false, error: callError(err) }, this),
    );
  }

  private async serve(link: Link, call: Call): Promise<CallResult> {
    switch (call.m) {
      case 'publish': {
        const origin = call.conn < 0 ? -1 : call.conn * ORIGIN_SPAN + link.index;
        const r = await this.broker.publish(call.topic, call.data, origin, call.key);
        return this.broker.inProcess && !r.duplicate ? this.receivers(call.topic, r, call.conn >= 0) : r;
      }
      case 'follow':
        await this.follow(link, call.topic);
        return undefined;
      case 'read': {
        const state = await this.broker.read(call.topic, call.after, call.count, call.create, call.bytes);
        // the data only: frames would be cloned to the worker beside it, and the worker encodes its own
        return { ...state, messages: state.messages.map((m) => ({ seq: m.seq, data: m.data })) };
      }
      case 'presenceList':
        return this.broker.presenceList(call.topic, call.limit);
      case 'metrics':
        return this.metricsText();
    }
  }

  /**
   * In one process the answer to a publish counts its receivers: the subscribers every worker
   * reported (the publisher itself not, when it excluded itself).
   */
  private receivers(topic: string, r: Published, excluded: boolean): Published {
    let n = 0;
    for (const link of this.followed.get(topic)?.links ?? []) n += link.members.get(topic) ?? 0;
    return { ...r, nodes: Math.max(0, n - (excluded ? 1 : 0)) };
  }

  private async follow(link: Link, topic: string): Promise<void> {
    // the worker's wish, from now: an unfollow that comes while the broker's follow is pending
    // takes it back, or the topic would stay followed for a worker that no longer holds it
    link.follows.add(topic);
    let f = this.followed.get(topic);
    if (f === undefined) {
      f = { links: new Set(), pending: undefined, waiting: 0 };
      this.followed.set(topic, f);
    }
    if (f.links.size === 0 && f.pending === undefined) f.pending = (async () => this.broker.follow(topic))();
    const pending = f.pending;
    if (pending !== undefined) {
      f.waiting++;
      try {
        await pending;
      } catch (err) {
        f.waiting--;
        if (f.pending === pending) f.pending = undefined;
        if (f.links.size === 0 && f.waiting === 0 && this.followed.get(topic) === f) this.followed.delete(topic);
        throw err;
      }
      f.waiting--;
      if (f.pending === pending) f.pending = undefined;
    }
    if (link.dead || !link.follows.has(topic)) {
      if (f.links.size === 0 && f.waiting === 0) this.drop(topic, f);
      return;
    }
    f.links.add(link);
  }

  private unfollow(link: Link, topic: string): void {
    const f = this.followed.get(topic);
    if (f === undefined) return;
    f.links.delete(link);
    link.members.delete(topic);
    if (f.links.size === 0 && f.waiting === 0 && f.pending === undefined) this.drop(topic, f);
  }

  private drop(topic: string, f: Followed): void {
    if (this.followed.get(topic) !== f) return;
    this.followed.delete(topic);
    this.broker.unfollow(topic);
  }

  private presence(link: Link, topic: string, op: PresenceOp, clients: { client: string; user: string }[]): void {
    this.broker.presence(topic, op, clients);
    if (op === 'refresh') return;
    let entries = link.present.get(topic);
    for (const { client, user } of clients) {
      if (op === 'join') {
        if (entries === undefined) link.present.set(topic, (entries = new Map()));
        entries.set(client, user);
      } else if (entries !== undefined) {
        entries.delete(client);
        if (entries.size === 0) {
          link.present.delete(topic);
          entries = undefined;
        }
      }
      this.announce(link, topic, op, client, user);
    }
  }

  // ---- sending ----

  scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => this.flush());
  }

  /** One postMessage per worker with something queued. */
  private flush(): void {
    this.flushScheduled = false;
    for (const link of this.links) if (link !== undefined && link.outbox.length > 0) link.post();
  }
}

function callError(err: unknown): CallError {
  const msg = err instanceof Error ? err.message : String(err);
  if (err instanceof BrokerTopicLimitError) return { kind: 'topic_limit', msg };
  if (err instanceof BrokerTimeoutError) return { kind: 'timeout', msg };
  if (err instanceof BrokerRefusedError) return { kind: 'refused', msg };
  if (err instanceof BrokerUnavailableError) return { kind: 'unavailable', msg };
  return { kind: 'internal', msg };
}
