// Idempotency keys of the memory broker: a `pub` (or POST /publish) carrying a key that was seen
// on the same topic within --idempotency-ttl returns the first publish's seq and delivers
// nothing, so a client whose ack was lost can retry safely. Every key lives for the same TTL, so
// insertion order is expiry order: a Map swept from its head holds them, and --max-idempotency-keys
// bounds it (past it the oldest key is forgotten early, which only weakens the guarantee for it).

export interface IdempotencyLimits {
  /** how long a key is remembered (ms); 0 turns keys off (every publish is delivered) */
  ttlMs: number;
  /** keys held at once over all topics */
  maxKeys: number;
}

interface Entry {
  seq: number;
  /** when the key expires (ms, monotonic) */
  expires: number;
}

export class IdempotencyStore {
  private readonly entries = new Map<string, Entry>();

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
      const oldest = this.entries.keys().next();
      if (oldest.done !== true) this.entries.delete(oldest.value);
    }
    this.entries.set(slot(topic, key), { seq, expires: now + this.limits.ttlMs });
  }

  private expire(now: number): void {
    for (const [k, e] of this.entries) {
      if (e.expires > now) return; // the rest expire later
      this.entries.delete(k);
    }
  }
}

/** A topic name holds no space, so "topic key" names one (topic, key) pair unambiguously. */
function slot(topic: string, key: string): string {
  return `${topic} ${key}`;
}
