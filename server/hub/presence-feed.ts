// Join/leave events of one topic, for the subscribers that asked for them (`sub` with
// "presence":true). An event is encoded once and fanned out to the watchers like a message.
// A burst of connects must not turn into watchers x joiners frames: each topic sends at most
// --presence-events events per second; past it the rest of that second's events are dropped and,
// when the second ends, the watchers get ONE presence_sync frame telling them to read the list
// again with `presence`: a watcher is never left with a silent gap.
import { Membership } from './membership.js';

export class PresenceFeed {
  readonly watchers = new Membership();
  private windowStart = 0;
  private sent = 0;
  /** events dropped in the current window */
  dropped = 0;
  /** armed when the first event of a window is dropped; sends the presence_sync at its end */
  syncTimer: NodeJS.Timeout | undefined;

  constructor(private readonly perSecond: number) {}

  /** Whether one more event may be sent now (ms, monotonic); false means it is dropped. */
  admit(now: number): boolean {
    if (now - this.windowStart >= 1000) {
      this.windowStart = now;
      this.sent = 0;
    }
    if (this.sent < this.perSecond) {
      this.sent++;
      return true;
    }
    this.dropped++;
    return false;
  }

  /** ms until the current window ends */
  windowLeft(now: number): number {
    return Math.max(0, this.windowStart + 1000 - now);
  }

  stop(): void {
    clearTimeout(this.syncTimer);
    this.syncTimer = undefined;
  }
}
