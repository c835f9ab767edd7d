// A worker thread's link to the main thread of `--workers N`: what travels over the worker's
// message port besides the control messages worker.ts answers. Items go both ways in batches, one
// postMessage per event-loop turn each way. It carries the broker's traffic (calls and their
// answers, the numbered messages, presence and checks the main thread's broker hands on) to the
// worker's BrokerProxy, and the main thread's own business with the worker: accepted connections
// (fd hand-off), the cluster view and the process's /metrics.
import type { MessagePort } from 'node:worker_threads';
import {
  BrokerRefusedError,
  BrokerTimeoutError,
  BrokerTopicLimitError,
  BrokerUnavailableError,
  type BrokerEvents,
} from '../broker/types.js';
import type { Call, CallError, CallResult, ClusterView, MainItem, ToMain, WorkerItem } from './messages.js';

interface Pending {
  resolve(value: CallResult): void;
  reject(err: Error): void;
}

export class MainLink {
  /** the broker's events, once the worker's hub has started its broker */
  brokerEvents: BrokerEvents | undefined;
  /** an accepted connection handed over in slot `slot` of the hand-off array */
  onConnection: (slot: number) => void = () => undefined;
  private view: ClusterView;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private outbox: WorkerItem[] = [];
  private flushScheduled = false;
  private closed = false;

  constructor(
    private readonly port: MessagePort,
    view: ClusterView,
  ) {
    this.view = view;
  }

  /** The cluster as the main thread last described it (its broker's health, every worker). */
  get cluster(): ClusterView {
    return this.view;
  }

  setView(view: ClusterView): void {
    this.view = view;
  }

  /** Every worker's metrics and the main thread's, added up by the main thread (for /metrics). */
  metrics(): Promise<{ contentType: string; text: string }> {
    return this.call({ m: 'metrics' }) as Promise<{ contentType: string; text: string }>;
  }

  /** Asks the main thread; the answer (or its error, as the broker's error class) settles the promise. */
  call(call: Call): Promise<CallResult> {
    if (this.closed) return Promise.reject(new BrokerUnavailableError('the worker is stopping'));
    const id = this.nextId++;
    return new Promise<CallResult>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.queue({ k: 'call', id, call });
    });
  }

  /** Queues an item for the next batch to the main thread. */
  queue(item: WorkerItem): void {
    this.outbox.push(item);
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => this.flush());
  }

  /** The worker stops: calls waiting for an answer fail, what is queued still leaves. */
  close(): void {
    this.closed = true;
    for (const p of this.pending.values()) p.reject(new BrokerUnavailableError('the worker is stopping'));
    this.pending.clear();
    this.flush();
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
          this.brokerEvents?.publication(
            item.topic,
            item.seq,
            item.epoch,
            frame.subarray(item.dataStart, item.dataEnd),
            item.exclude,
            frames,
          );
          break;
        }
        case 'presence':
          this.brokerEvents?.presence(item.topic, item.op, item.client, item.user);
          break;
        case 'missed':
          this.brokerEvents?.missed(item.topic);
          break;
        case 'top':
          this.brokerEvents?.top(item.topic, item.seq, item.epoch);
          break;
        case 'fd':
          this.onConnection(item.slot);
          break;
      }
    }
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
export function bufferOf(u: Uint8Array): Buffer {
  return Buffer.from(u.buffer, u.byteOffset, u.length);
}
