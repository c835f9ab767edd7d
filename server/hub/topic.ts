// One topic: its members, its sequence and epoch, and its retained messages. With a shared
// broker (redis) the seq and epoch are the broker's and the retained messages are a local copy of
// the tail of its history: `phase` says whether that copy is current.
import type { History, Retained } from './history.js';
import { Membership } from './membership.js';
import type { PresenceFeed } from './presence-feed.js';
import type { SharedFrames } from '../broker/types.js';
import { jsonAscii } from '../protocol/encode.js';
import type { Id } from '../protocol/request.js';

/**
 * With a shared broker: `syncing` until the channel is subscribed and the tail read (requests
 * wait), `live` while messages arrive in order, `repairing` while missed messages are read back
 * (arrivals are held), `stale` when a repair could not reach the broker (held until it is back).
 */
export type Phase = 'syncing' | 'live' | 'repairing' | 'stale';

/** A message that arrived from the broker while the topic could not deliver it yet. */
export interface Arrival {
  seq: number;
  epoch: string;
  data: Buffer;
  exclude: number;
  /** the frames made once for every worker (--workers), when the broker sent them */
  frames?: SharedFrames | undefined;
}

export class Topic {
  readonly members = new Membership();
  /** the topic name as a JSON string literal, encoded once */
  readonly json: string;
  seq = 0;
  /** when the topic last had a publish or lost its last member (ms, monotonic) */
  lastActive = 0;
  /** evicted or expired: no longer in the store (its retained entries are stale) */
  dropped = false;
  /** join/leave events for the members that asked; made by the first such member */
  feed: PresenceFeed | undefined;

  /** shared broker only (see Phase); a memory-broker topic is always live */
  phase: Phase = 'live';
  /** arrivals held while not live, in arrival order */
  held: Arrival[] = [];
  heldBytes = 0;
  /** subs waiting for the first sync: their connection and request id, and their answer once it is done */
  waiting: { conn: number; id: Id; answer: () => void }[] = [];
  /** a repair was asked for while one ran: it runs once more */
  repairAgain = false;
  /** the broker's last seq at the previous periodic check, when ahead of ours */
  brokerAhead = 0;

  constructor(
    readonly name: string,
    public epoch: string,
    /** linked into the store's retention order (topics.ts) */
    readonly history: History<Retained>,
  ) {
    this.json = jsonAscii(name);
  }
}
