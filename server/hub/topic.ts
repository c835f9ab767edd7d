// One topic: its members, its sequence and epoch, and its retained messages.
import { History } from './history.js';
import { Membership } from './membership.js';
import type { PresenceFeed } from './presence-feed.js';
import { jsonAscii } from '../protocol/encode.js';

export class Topic {
  readonly members = new Membership();
  readonly history: History;
  /** the topic name as a JSON string literal, encoded once */
  readonly json: string;
  seq = 0;
  /** when the topic last had a publish or lost its last member (ms, monotonic) */
  lastActive = 0;
  /** evicted or expired: no longer in the store (its retained entries are stale) */
  dropped = false;
  /** join/leave events for the members that asked; made by the first such member */
  feed: PresenceFeed | undefined;

  constructor(
    readonly name: string,
    readonly epoch: string,
    historyCapacity: number,
  ) {
    this.json = jsonAscii(name);
    this.history = new History(historyCapacity);
  }
}
