// What the main thread and the worker threads of `--workers N` say to each other. Everything
// per message or per request travels in batches: each side queues its items and posts them in
// one message per event-loop turn, so a busy worker costs one wake per turn, not one per publish.
// A message's frame is encoded once, whatever the number of workers; each gets its bytes moved to it.
import type { BrokerHealth, Published, PresenceList, TopicState } from '../broker/types.js';
import type { OpsAnswer, OpsAsk } from '../ops/types.js';

/** What a worker asks of the broker on the main thread (answered by a `re` item). */
export type Call =
  | { m: 'publish'; topic: string; data: Uint8Array; conn: number; key: string | undefined }
  | { m: 'follow'; topic: string }
  | { m: 'read'; topic: string; after: number | 'newest'; count: number; create: boolean; bytes: number }
  | { m: 'presenceList'; topic: string; limit: number }
  | { m: 'metrics' };

export type CallResult = Published | TopicState | PresenceList | { contentType: string; text: string } | undefined;

/** Why a call failed, so the worker rethrows the broker's error class. */
export type CallError = { kind: 'unavailable' | 'timeout' | 'refused' | 'topic_limit' | 'internal'; msg: string };

export type PresenceOp = 'join' | 'leave' | 'refresh';

/** Worker -> main, in a batch. */
export type WorkerItem =
  | { k: 'call'; id: number; call: Call }
  | { k: 'unfollow'; topic: string }
  | { k: 'presence'; topic: string; op: PresenceOp; clients: { client: string; user: string }[] }
  | { k: 'members'; topic: string; count: number }
  /** the worker has (or no longer has) connections with permessage-deflate: publishes come compressed too */
  | { k: 'deflating'; on: boolean };

/**
 * A message as every worker sends it: its frame (and compressed twin) encoded once by the main
 * thread, each in an ArrayBuffer of its own that the batch moves to the worker (host.ts, `own`).
 */
export interface MsgItem {
  k: 'msg';
  topic: string;
  seq: number;
  epoch: string;
  exclude: number;
  frame: Uint8Array;
  compressed: Uint8Array | undefined;
  dataStart: number;
  dataEnd: number;
  deflated: boolean;
}

/** Main -> worker, in a batch, in the order the main thread queued them. */
export type MainItem =
  | { k: 're'; id: number; ok: true; value: CallResult }
  | { k: 're'; id: number; ok: false; error: CallError }
  | MsgItem
  | { k: 'presence'; topic: string; op: 'join' | 'leave'; client: string; user: string }
  | { k: 'top'; topic: string; seq: number; epoch: string | null }
  /** messages of the topic were skipped for this worker while it was behind: it reads them back */
  | { k: 'missed'; topic: string }
  /** an accepted connection: its fd waits in slot `slot` of the worker's hand-off array */
  | { k: 'fd'; slot: number };

/** What the main thread knows of the workers, shown by every worker's /healthz. */
export interface ClusterView {
  broker: BrokerHealth;
  workers: { configured: number; running: number; restarts: number };
}

export type ToWorker =
  | { t: 'batch'; items: MainItem[] }
  | { t: 'view'; view: ClusterView }
  /** collect this worker's metrics (prom-client JSON) for request `id` */
  | { t: 'collect'; id: number }
  /** the broker's links are back: repair every held topic, answer `restored` */
  | { t: 'restore'; id: number }
  /** --ops: a question for this worker's hub (server/ops/hub-view.ts), answered `ops` */
  | { t: 'ops'; id: number; ask: OpsAsk }
  | { t: 'drain' }
  /** fault injection for tests (RINGCAST_FAULT_INJECTION): throw from the event loop, or block it for `ms` */
  | { t: 'crash' }
  | { t: 'stall'; ms: number };

export type ToMain =
  | { t: 'batch'; items: WorkerItem[] }
  /** `ringFd`: the worker's ring (uring), for the next worker's --sqpoll attach; -1 on ws */
  | { t: 'ready'; features: Record<string, unknown>; ringFd: number }
  | { t: 'collected'; id: number; metrics: object[] }
  | { t: 'restored'; id: number; error?: string }
  | { t: 'ops'; id: number; answer: OpsAnswer }
  | { t: 'drained' };

/** Layout of the counters every worker and the main thread share (one Int32Array). */
export const CELL_LOAD = 0; // + worker index: that worker's TCP connections (handed over, not yet closed)
export const cellAdmission = (workers: number, index: number) => workers + index; // that worker's --max-connections slots
export const cellConsumed = (workers: number, index: number) => 2 * workers + index; // batches that worker has taken in
export const CELLS_PER_WORKER = 3;

/** Slots of a worker's fd hand-off array: accepted fds not yet taken by the worker. */
export const HANDOFF_SLOTS = 4096;

/** What a worker thread starts with. */
export interface WorkerData {
  index: number;
  workers: number;
  /** the validated configuration (plain data) */
  config: unknown;
  /** the main thread's verdict on io_uring, so workers do not each run the self-test */
  probe: { ok: boolean; reason: string; features: string };
  cells: SharedArrayBuffer;
  /** HANDOFF_SLOTS Int32 slots: an fd, or -1 once taken */
  handoff: SharedArrayBuffer;
  view: ClusterView;
  /** the main thread's broker is the in-process one (SharedBroker.inProcess) */
  brokerInProcess: boolean;
  /**
   * Test-only fault injection (RINGCAST_FAULT_INJECTION): '1' lets a `crash` message make this
   * worker throw, 'stall' lets a `stall` message block its event loop; 'start' makes the last
   * worker throw while it starts.
   */
  faultInjection: string;
  /** with --sqpoll: a running worker's ring fd, whose kernel SQ thread this worker's ring shares (-1: none) */
  sqpollAttach: number;
}
