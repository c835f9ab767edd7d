// One connection as the hub sees it. Kept small on purpose: an idle subscribed connection must
// cost well under 1 KiB of server memory, so subscriptions are a flat array of
// [topic, index] pairs while few (a Map costs ~180 bytes even for one entry) and a Map only
// past SMALL_SUBSCRIPTIONS, and the client id string is built only when presence asks for it.
import type { Permissions } from '../auth/permissions.js';
import type { RateLimiter } from './rate-limit.js';
import type { Topic } from './topic.js';

const SMALL_SUBSCRIPTIONS = 16;

export class Conn {
  /** [topic, indexInTopicMembership, ...] while small */
  private pairs: (Topic | number)[] | undefined;
  private map: Map<Topic, number> | undefined;
  limiter: RateLimiter | undefined;
  expiry: NodeJS.Timeout | undefined;
  /** the hub asked the transport to close it; further input is ignored */
  closing = false;
  /** shared broker: requests waiting for it, and the bytes they hold (hub.admitInFlight) */
  inFlight = 0;
  inFlightBytes = 0;
  /** topics whose join/leave events it receives, with its index among their watchers */
  watching: Map<Topic, number> | undefined;

  constructor(
    readonly id: number,
    /** unique for the server's lifetime; the presence client id is derived from it */
    readonly serial: number,
    readonly user: string,
    readonly perms: Permissions | null,
    /** negotiated permessage-deflate: replays go to it compressed */
    readonly deflate = false,
  ) {}

  get subscriptionCount(): number {
    return this.map !== undefined ? this.map.size : this.pairs === undefined ? 0 : this.pairs.length / 2;
  }

  /** This connection's index in the topic's membership array, or undefined when not subscribed. */
  indexIn(topic: Topic): number | undefined {
    if (this.map !== undefined) return this.map.get(topic);
    const p = this.pairs;
    if (p === undefined) return undefined;
    for (let i = 0; i < p.length; i += 2) if (p[i] === topic) return p[i + 1] as number;
    return undefined;
  }

  setIndex(topic: Topic, index: number): void {
    if (this.map !== undefined) {
      this.map.set(topic, index);
      return;
    }
    const p = this.pairs;
    if (p === undefined) {
      this.pairs = [topic, index]; // a literal gets capacity 2; push() on [] would reserve ~18 slots
      return;
    }
    for (let i = 0; i < p.length; i += 2) {
      if (p[i] === topic) {
        p[i + 1] = index;
        return;
      }
    }
    if (p.length / 2 < SMALL_SUBSCRIPTIONS) {
      p.push(topic, index);
      return;
    }
    this.map = new Map();
    for (let i = 0; i < p.length; i += 2) this.map.set(p[i] as Topic, p[i + 1] as number);
    this.map.set(topic, index);
    this.pairs = undefined;
  }

  deleteIndex(topic: Topic): void {
    if (this.map !== undefined) {
      this.map.delete(topic);
      return;
    }
    const p = this.pairs;
    if (p === undefined) return;
    for (let i = 0; i < p.length; i += 2) {
      if (p[i] !== topic) continue;
      // order does not matter: move the last pair into the hole
      p[i] = p[p.length - 2]!;
      p[i + 1] = p[p.length - 1]!;
      p.length -= 2;
      if (p.length === 0) this.pairs = undefined;
      return;
    }
  }

  /** A snapshot of the subscribed topics (safe to leave them while iterating). */
  topics(): Topic[] {
    if (this.map !== undefined) return [...this.map.keys()];
    const out: Topic[] = [];
    if (this.pairs !== undefined) for (let i = 0; i < this.pairs.length; i += 2) out.push(this.pairs[i] as Topic);
    return out;
  }
}
