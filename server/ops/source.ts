// Where the ops server reads a node from: the server itself (one thread), or the main thread of
// --workers, which asks every worker. Both read what the server already keeps.
import type { MetricJson } from './series.js';
import type { NodeRow, OpsAnswer, OpsAsk } from './types.js';

export interface OpsSource {
  /** The whole process's registry as JSON (with --workers: every worker's added up). */
  metrics(): Promise<MetricJson[]>;
  /** This node as it is now (id and time are the ops server's). */
  node(): Omit<NodeRow, 'id' | 'at'>;
  /** Asks every hub of the node; answers that did not come within the probe interval are left out. */
  ask(ask: OpsAsk): Promise<OpsAnswer[]>;
}
