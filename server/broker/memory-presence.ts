// Presence of the memory broker: who is on a topic, as the redis broker's pz/pi keys hold it
// (scripts.ts PRESENCE, PRESENCE_LIST), kept in this process. Every entry lives for the same TTL
// from its last write, so a Map in write order (a write re-inserts) is also in expiry order: the
// expired entries are always its head, and a topic's map is in last-write order in `topics` too.
// Expired entries are removed from the head whenever their topic is written or listed (each once,
// paid for by the write that made it), and a topic whose newest write is older than the TTL is
// dropped whole by sweep(): a worker that died without its leaves leaves nothing behind.
import type { PresenceList } from './types.js';

interface Entry {
  user: string;
  /** when the entry expires (ms, monotonic) */
  expires: number;
}

interface TopicPresence {
  /** client id -> entry, in expiry order */
  readonly entries: Map<string, Entry>;
  /** the latest expiry of any entry: the whole topic is expired past it (ms, monotonic) */
  expires: number;
}

export class PresenceTable {
  /** topics with at least one entry, in the order of their last join or refresh */
  private readonly topics = new Map<string, TopicPresence>();

  constructor(private readonly ttlMs: number) {}

  /** Topics with presence entries (some may have expired and await a sweep). */
  get size(): number {
    return this.topics.size;
  }

  write(topic: string, op: 'join' | 'leave' | 'refresh', clients: readonly { client: string; user: string }[], now: number): void {
    let p = this.topics.get(topic);
    if (op === 'leave') {
      if (p === undefined) return;
      for (const c of clients) p.entries.delete(c.client);
      this.expire(topic, p, now);
      return;
    }
    if (p === undefined) p = { entries: new Map(), expires: 0 };
    else this.topics.delete(topic); // re-inserted below: the most recently written
    const expires = now + this.ttlMs;
    for (const c of clients) {
      p.entries.delete(c.client);
      p.entries.set(c.client, { user: c.user, expires });
    }
    p.expires = expires;
    this.topics.set(topic, p);
    this.expire(topic, p, now);
  }

  /** The unexpired entries of `topic`: all of them counted, the first `limit` listed (oldest write first). */
  list(topic: string, limit: number, now: number): PresenceList {
    const p = this.topics.get(topic);
    if (p === undefined) return { count: 0, clients: [] };
    this.expire(topic, p, now);
    const clients: { client: string; user: string }[] = [];
    if (limit > 0) {
      for (const [client, e] of p.entries) {
        clients.push({ client, user: e.user });
        if (clients.length >= limit) break;
      }
    }
    return { count: p.entries.size, clients };
  }

  /** Drops up to `most` topics whose every entry has expired, oldest first. */
  sweep(now: number, most: number): void {
    let n = 0;
    for (const [topic, p] of this.topics) {
      if (p.expires > now || n++ >= most) return; // the rest were written later
      this.topics.delete(topic);
    }
  }

  clear(): void {
    this.topics.clear();
  }

  /** Removes the expired head of a topic's entries, and the topic when none is left. */
  private expire(topic: string, p: TopicPresence, now: number): void {
    for (const [client, e] of p.entries) {
      if (e.expires > now) break;
      p.entries.delete(client);
    }
    if (p.entries.size === 0) this.topics.delete(topic);
  }
}
