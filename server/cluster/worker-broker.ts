// A worker thread's broker: the main thread's one broker (memory or redis) seen through the
// worker's message port. The worker's hub runs in shared-broker mode against it exactly as it
// does against Redis: a publish is numbered on the main thread, and every worker, the
// publishing one included, delivers what comes back, checked for order.
import type { MessagePort } from 'node:worker_threads';
import {
  BrokerRefusedError,
  BrokerTimeoutError,
  BrokerTopicLimitError,
  BrokerUnavailableError,
  type BrokerEvents,
  type BrokerHealth,
  type PresenceList,
  type Published,
  type SharedBroker,
  type TopicState,
} from '../broker/types.js';
import type { Call, CallError, CallResult, ClusterView, MainItem, ToMain, WorkerItem } from './messages.js';

interface Pending {
  resolve(value: CallResult): void;
  reject(err: Error): void;
}

export class WorkerBroker implements SharedBroker {
  readonly name: string;
  private events: BrokerEvents | undefined;
  private view: ClusterView;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private outbox: WorkerItem[] = [];
  private flushScheduled = false;
  private stopped = false;
  /** an accepted connection handed over in slot `slot` of the hand-off array */
  onConnection: (slot: number) => void = () => undefined;

  constructor(
    private readonly port: MessagePort,
    view: ClusterView,
  ) {
    this.view = view;
    this.name = view.broker.broker;
  }

  get ready(): boolean {
    return !this.stopped && this.view.broker.state === 'up';
  }

  health(): BrokerHealth {
    return this.view.broker;
  }

  get cluster(): ClusterView {
    return this.view;
  }

  setView(view: ClusterView): void {
    this.view = view;
  }

  start(events: BrokerEvents): Promise<void> {
    this.events = events;
    return Promise.resolve();
  }

  stop(): Promise<void> {
    this.stopped = true;
    for (const p of this.pending.values()) p.reject(new BrokerUnavailableError('the worker is stopping'));
    this.pending.clear();
    this.flush();
    return Promise.resolve();
  }

  publish(topic: string, data: Uint8Array, origin: number, key: string | undefined): Promise<Published> {
    // a copy of exactly these bytes: a view would clone the whole buffer it looks into
    return this.call({ m: 'publish', topic, data: new Uint8Array(data), conn: origin, key }) as Promise<Published>;
  }

  follow(topic: string): Promise<void> {
    return this.call({ m: 'follow', topic }) as Promise<void>;
  }

  unfollow(topic: string): void {
    this.queue({ k: 'unfollow', topic });
  }

  async read(topic: string, after: number | 'newest', count: number, create: boolean, bytes: number): Promise<TopicState> {
    const state = (await this.call({ m: 'read', topic, after, count, create, bytes })) as TopicState;
    // structured clone turns a Buffer into a plain Uint8Array
    for (const m of state.messages) m.data = bufferOf(m.data);
    return state;
  }

  presence(topic: string, op: 'join' | 'leave' | 'refresh', clients: readonly { client: string; user: string }[]): void {
    this.queue({ k: 'presence', topic, op, clients: clients.slice() });
  }

  presenceList(topic: string, limit: number): Promise<PresenceList> {
    return this.call({ m: 'presenceList', topic, limit }) as Promise<PresenceList>;
  }

  members(topic: string, count: number): void {
    this.queue({ k: 'members', topic, count });
  }

  deflating(on: boolean): void {
    this.queue({ k: 'deflating', on });
  }

  /** Every worker's metrics, added up by the main thread (for /metrics). */
  metrics(): Promise<{ contentType: string; text: string }> {
    return this.call({ m: 'metrics' }) as Promise<{ contentType: string; text: string }>;
  }

  /** A batch from the main thread, in its order. */
  receive(items: readonly MainItem[]): void {
    for (const item of items) {
      switch (item.k) {
        case 're': {
          const p = this.pending.get(item.id);
          if (p === undefined) break;
          this.pending.delete(item.id);
          if (item.ok) p.resolve(item.value);
          else p.reject(errorOf(item.error));
          break;
        }
        case 'msg': {
          const frame = bufferOf(item.frame);
          const frames = {
            frame,
            compressed: item.compressed === undefined ? undefined : bufferOf(item.compressed),
            dataStart: item.dataStart,
            dataEnd: item.dataEnd,
            deflated: item.deflated,
          };
          this.events?.message(item.topic, item.seq, item.epoch, frame.subarray(item.dataStart, item.dataEnd), item.exclude, frames);
          break;
        }
        case 'presence':
          this.events?.presence(item.topic, item.op, item.client, item.user);
          break;
        case 'missed':
          this.events?.missed(item.topic);
          break;
        case 'top':
          this.events?.top(item.topic, item.seq, item.epoch);
          break;
        case 'fd':
          this.onConnection(item.slot);
          break;
      }
    }
  }

  /** The main thread's broker reconnected: repair every held topic. */
  restored(): Promise<void> {
    return this.events?.restored() ?? Promise.resolve();
  }

  private call(call: Call): Promise<CallResult> {
    if (this.stopped) return Promise.reject(new BrokerUnavailableError('the worker is stopping'));
    const id = this.nextId++;
    return new Promise<CallResult>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.queue({ k: 'call', id, call });
    });
  }

  private queue(item: WorkerItem): void {
    this.outbox.push(item);
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => this.flush());
  }

  private flush(): void {
    this.flushScheduled = false;
    if (this.outbox.length === 0) return;
    const items = this.outbox;
    this.outbox = [];
    this.port.postMessage({ t: 'batch', items } satisfies ToMain);
  }
}

function errorOf(e: CallError): Error {
  if (e.kind === 'topic_limit') return new BrokerTopicLimitError(e.msg);
  if (e.kind === 'timeout') return new BrokerTimeoutError(e.msg);
  if (e.kind === 'refused') return new BrokerRefusedError(e.msg);
  if (e.kind === 'unavailable') return new BrokerUnavailableError(e.msg);
  return new Error(e.msg);
}

/** A Buffer over the same memory (structured clone delivers plain Uint8Arrays). */
function bufferOf(u: Uint8Array): Buffer {
  return Buffer.from(u.buffer, u.byteOffset, u.length);
}
