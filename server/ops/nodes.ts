// The other nodes of a cluster on the Redis broker, for the ops page. Each node with --ops writes
// its row into one hash every second and reads everybody's back: one HSET and one HGETALL a second
// per node, on a connection of its own so a slow read here never queues behind publishes. A node
// whose row stops changing is shown down once its probe interval has passed three times; a row
// nobody refreshed for ten minutes is deleted, so the hash holds only the nodes of the last
// ten minutes. (When the broker gets a control channel, as the planned server API needs, this
// can ride on it.)
import { Redis } from 'ioredis';
import { linkOptions, type RedisTarget } from '../broker/url.js';
import type { NodeRow } from './types.js';

/** How often a node writes its row (ms); a row unchanged for three of these is shown down. */
export const PROBE_MS = 1000;
const DOWN_AFTER_MS = 3 * PROBE_MS;
const FORGET_AFTER_MS = 10 * 60_000;

export interface SeenNode {
  row: NodeRow;
  /** false: its row stopped changing (the node stopped, hangs, or lost Redis) */
  answering: boolean;
  /** seconds since its row last changed, by this node's clock (rows carry their writer's clock) */
  silentSeconds: number;
}

export class NodeRegistry {
  private readonly redis: Redis;
  private readonly key: string;
  /** per node: its row's `at` as last read, and when (this node's clock) it last changed */
  private readonly seen = new Map<string, { at: number; changed: number }>();

  constructor(target: RedisTarget, prefix: string, timeoutMs: number) {
    this.key = `${prefix}:ops:nodes`;
    this.redis = new Redis({
      ...linkOptions(target, timeoutMs),
      lazyConnect: false,
      connectionName: 'ringcast-ops',
      retryStrategy: (attempt) => Math.min(100 * 2 ** Math.min(attempt, 5), 2000),
    });
    this.redis.on('error', () => undefined); // the page shows Redis's state; the broker logs its errors
  }

  /** Writes this node's row and reads every node's; undefined while Redis cannot answer. */
  async exchange(mine: NodeRow, now = Date.now()): Promise<SeenNode[] | undefined> {
    let all: Record<string, string>;
    try {
      const [, got] = (await this.redis
        .multi()
        .hset(this.key, mine.id, JSON.stringify(mine))
        .hgetall(this.key)
        .pexpire(this.key, FORGET_AFTER_MS)
        .exec()) as [unknown, [Error | null, Record<string, string>]];
      if (got[0] !== null) return undefined;
      all = got[1];
    } catch {
      return undefined;
    }
    const out: SeenNode[] = [];
    const stale: string[] = [];
    for (const [id, text] of Object.entries(all)) {
      let row: NodeRow;
      try {
        row = JSON.parse(text) as NodeRow;
      } catch {
        stale.push(id);
        continue;
      }
      const prev = this.seen.get(id);
      const changed = prev === undefined || prev.at !== row.at ? now : prev.changed;
      this.seen.set(id, { at: row.at, changed });
      // judged by its writer's clock only for forgetting, where minutes of skew do not matter
      if (now - row.at > FORGET_AFTER_MS) stale.push(id);
      else out.push({ row, answering: now - changed <= DOWN_AFTER_MS, silentSeconds: Math.round((now - changed) / 1000) });
    }
    for (const id of this.seen.keys()) if (!(id in all)) this.seen.delete(id);
    if (stale.length > 0) void this.redis.hdel(this.key, ...stale).catch(() => undefined);
    return out.sort((a, b) => a.row.id.localeCompare(b.row.id));
  }

  /** Removes this node's row (a drained node leaves the page at once) and closes the link. */
  async close(id: string): Promise<void> {
    try {
      await this.redis.hdel(this.key, id);
    } catch {
      // Redis is away: the row ages out
    }
    this.redis.disconnect();
  }
}
