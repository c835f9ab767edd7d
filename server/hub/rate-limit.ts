// Per-connection inbound rate limits: token buckets for messages/s and bytes/s that refill
// continuously and hold one second's worth (the burst). A message is let through while the
// bucket is positive and then charged, so one message larger than a second's bytes still passes,
// followed by a debt. Refused messages in a row are counted: a connection that keeps sending
// past its limit for a whole second's worth of messages (at least STRIKES_MIN) is abusive.

export const STRIKES_MIN = 10;

class Bucket {
  private tokens: number;
  private last: number;

  constructor(
    private readonly rate: number,
    now: number,
  ) {
    this.tokens = rate;
    this.last = now;
  }

  take(amount: number, now: number): boolean {
    this.tokens = Math.min(this.rate, this.tokens + ((now - this.last) / 1000) * this.rate);
    this.last = now;
    if (this.tokens <= 0) return false;
    this.tokens -= amount;
    return true;
  }
}

export type Verdict = 'ok' | 'limited' | 'abusive';

export class RateLimiter {
  private readonly messages: Bucket | undefined;
  private readonly bytes: Bucket | undefined;
  private strikes = 0;
  private readonly maxStrikes: number;

  constructor(messagesPerSecond: number, bytesPerSecond: number, now: number) {
    if (messagesPerSecond > 0) this.messages = new Bucket(messagesPerSecond, now);
    if (bytesPerSecond > 0) this.bytes = new Bucket(bytesPerSecond, now);
    this.maxStrikes = Math.max(STRIKES_MIN, messagesPerSecond);
  }

  static enabled(messagesPerSecond: number, bytesPerSecond: number): boolean {
    return messagesPerSecond > 0 || bytesPerSecond > 0;
  }

  check(size: number, now: number): Verdict {
    const ok = (this.messages?.take(1, now) ?? true) && (this.bytes?.take(size, now) ?? true);
    if (ok) {
      this.strikes = 0;
      return 'ok';
    }
    return ++this.strikes > this.maxStrikes ? 'abusive' : 'limited';
  }
}
