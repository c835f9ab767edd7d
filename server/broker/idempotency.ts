// Idempotency keys of the memory broker: a `pub` (or POST /publish) carrying a key that was seen
// on the same topic within --idempotency-ttl returns the first publish's seq and delivers
// nothing, so a client whose ack was lost can retry safely. Every key lives for the same TTL, so
// insertion order is expiry order: a Map swept from its head holds them, and --max-idempotency-keys
// bounds it (past it the oldest key is forgotten early, which only weakens the guarantee for it).
// A topic that leaves the store takes its keys with it: a seq they name belongs to a sequence
// that is gone (the topic comes back with a new epoch), and they would only hold memory.

export interface IdempotencyLimits {
  /** how long a key is remembered (ms); 0 turns keys off (every publish is delivered) */
  ttlMs: number;
  /** keys held at once over all topics */
  maxKeys: number;
}

interface Entry {
  topic: string;
  seq: number;
  /** when the key expires (ms, monotonic) */
  expires: number;
}

export class IdempotencyStore {
  private readonly entries = new Map<string, Entry>();
  /** the slots of each topic's keys, so a dropped topic's keys go with it */
  private readonly byTopic = new Map<string, Set<string>>();

  constructor(private readonly limits: IdempotencyLimits) {}

  get size(): number {
    return this.entries.size;
  }

  /** The seq of the first publish of `key` on `topic`, when it is still remembered. */
  seen(topic: string, key: string, now: number): number | undefined {
    this.expire(now);
    return this.entries.get(slot(topic, key))?.seq;
  }

  remember(topic: string, key: string, seq: number, now: number): void {
    if (this.limits.ttlMs === 0) return;
    this.expire(now);
    if (this.entries.size >= this.limits.maxKeys) {
      const oldest = this.entries.entries().next();
      if (oldest.done !== true) this.delete(...oldest.value);
    }
    const s = slot(topic, key);
    this.entries.set(s, { topic, seq, expires: now + this.limits.ttlMs });
    const keys = this.byTopic.get(topic);
    if (keys === undefined) this.byTopic.set(topic, new Set([s]));
    else keys.add(s);
  }

  /** Forgets every key of `topic` (it left the store). */
  forget(topic: string): void {
    const keys = this.byTopic.get(topic);
    if (keys === undefined) return;
    for (const s of keys) this.entries.delete(s);
    this.byTopic.delete(topic);
  }

  clear(): void {
    this.entries.clear();
    this.byTopic.clear();
  }

  private expire(now: number): void {
    for (const [s, e] of this.entries) {
      if (e.expires > now) return; // the rest expire later
      this.delete(s, e);
    }
  }

  private delete(s: string, e: Entry): void {
    this.entries.delete(s);
    const keys = this.byTopic.get(e.topic)!;
    keys.delete(s);
    if (keys.size === 0) this.byTopic.delete(e.topic);
  }
}

/** A topic name holds no space, so "topic key" names one (topic, key) pair unambiguously. */
function slot(topic: string, key: string): string {
  return `${topic} ${key}`;
}
