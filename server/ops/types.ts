// What the ops page reads, as plain data: it crosses from a worker thread to the main thread
// (server/cluster/messages.ts) and from the main thread to the page as JSON.

/** A topic as one hub holds it: its local subscribers and the last seq it delivered. */
export interface TopicRow {
  topic: string;
  subscribers: number;
  seq: number;
}

/** One connection of a user, as the hub that holds it sees it. */
export interface UserConn {
  user: string;
  /** the connection id in its worker (or process) */
  conn: number;
  topics: string[];
  /** the worker thread that holds it; null without --workers */
  worker: number | null;
}

/** A question the ops server asks a hub (the main thread asks every worker's). */
export type OpsAsk =
  | { kind: 'topics'; q: string; limit: number }
  | { kind: 'user'; name: string; limit: number }
  /** nothing but an answer: whether the hub's thread runs */
  | { kind: 'ping' };

export type OpsAnswer = { kind: 'topics'; rows: TopicRow[] } | { kind: 'user'; conns: UserConn[] } | { kind: 'pong' };

/** One worker thread as the main thread sees it. */
export interface WorkerRow {
  index: number;
  state: 'up' | 'starting' | 'stalled' | 'down';
  connections: number;
  uptimeSeconds: number;
}

/** This node: what every page shows of it, and what it publishes for the other nodes' pages. */
export interface NodeRow {
  id: string;
  transport: string;
  connections: number;
  uptimeSeconds: number;
  state: 'up' | 'degraded' | 'down';
  broker: { broker: string; state: string; reason?: string | undefined };
  workers: WorkerRow[];
  /** where its ops server answers (http://host:port), for a user lookup across nodes */
  ops?: string;
  /** ms since the epoch when this row was made (another node's row older than its probe interval is shown down) */
  at: number;
}

/** Topics shown in the stream and at most asked of a hub in one search. */
export const TOPIC_ROWS = 20;
/** Connections one user lookup returns at most (over all workers). */
export const USER_CONNS = 100;
