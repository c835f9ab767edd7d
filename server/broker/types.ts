// The broker: who numbers a topic's messages and keeps its history, presence and idempotency
// keys. The hub talks to every broker through SharedBroker only, and every node (the publishing
// one included) delivers what the broker hands back on a topic's channel, in the broker's order.
// - MemoryBroker (memory.ts) is this process: a single-process server's, or the main thread's
//   of --workers N. It answers in the call and delivers before publish() returns (centrifuge's
//   memory broker does the same), so a single process keeps one order without waiting.
// - RedisBroker (redis.ts) is shared by every node: it answers later, and the hub's replica of
//   its topics (hub/replica.ts) keeps their order across gaps and outages.
// - BrokerProxy (cluster/broker-proxy.ts) is a worker thread's view of the main thread's broker.
// What differs between them is declared (inProcess, store), never read from a name.

/** A broker's answer: a value when it answers in the call (the in-process broker), else a promise. */
export type Answer<T> = T | Promise<T>;

/**
 * Hands a broker call's answer to `ok`, or its error (a throw or a rejection) to `fail`: at once
 * when the broker answered in the call, so a single process replies in request order. Returns
 * the promise when there is one (whoever holds a ticket for the call waits for it).
 */
export function settle<T>(call: () => Answer<T>, ok: (value: T) => void, fail: (err: unknown) => void): void | Promise<void> {
  let answer: Answer<T>;
  try {
    answer = call();
  } catch (err) {
    return fail(err);
  }
  if (answer instanceof Promise) return answer.then(ok, fail);
  return ok(answer);
}

/** `next` applied to an answer: in the call when it is a value, once it settles when a promise. */
export function andThen<T, U>(answer: Answer<T>, next: (value: T) => Answer<U>): Answer<U> {
  return answer instanceof Promise ? answer.then(next) : next(answer);
}

/** One retained message of a topic. */
export interface StoredMessage {
  seq: number;
  data: Buffer;
  /** its frames, when the broker encoded it (the in-process broker): `data` is a view into `frame` */
  frames?: SharedFrames;
}

/** A topic as the broker has it: its last seq, epoch and (some of) its retained messages. */
export interface TopicState {
  seq: number;
  /** null when the topic does not exist (a read never creates one) */
  epoch: string | null;
  /** seq of the oldest retained message of this epoch, 0 when none is retained */
  oldest: number;
  /** the epoch began after this seq: messages up to it belong to `previous` */
  base: number;
  /** the epoch before this one, when the broker knows it */
  previous: string | null;
  /** the messages asked for, oldest first, consecutive seqs (some may be the previous epoch's: seq <= base) */
  messages: StoredMessage[];
}

export interface Published {
  seq: number;
  epoch: string;
  /** the idempotency key was seen: seq is the first publish's and nothing was delivered */
  duplicate: boolean;
  /** nodes that took the message off the topic's channel */
  nodes: number;
}

export interface PresenceList {
  count: number;
  clients: { client: string; user: string }[];
}

/**
 * A message's frames, made once by whoever numbers it in this process (the in-process broker) or
 * hands it to several hubs (the main thread of --workers): the hub sends and retains them as they
 * are instead of encoding its own, so a message retained by the broker and by the hub is one copy.
 */
export interface SharedFrames {
  frame: Buffer;
  compressed: Buffer | undefined;
  /** where the data sits in `frame` */
  dataStart: number;
  dataEnd: number;
  /** made with permessage-deflate on: a missing `compressed` means too small or incompressible */
  deflated: boolean;
}

/** What a shared broker tells the hub. */
export interface BrokerEvents {
  /**
   * A publication: a message the broker numbered, on a followed topic's channel, in the broker's
   * order (a client's frame is a `message` of TransportEvents); `exclude` is a local connection id
   * or -1. Returns the connections it reached here, when it was delivered in the call (the
   * in-process broker answers the publish with it), else 0.
   */
  publication(topic: string, seq: number, epoch: string, data: Buffer, exclude: number, frames?: SharedFrames): number;
  /** a join or leave on a followed topic made on another node (outside the seq space) */
  presence(topic: string, op: 'join' | 'leave', client: string, user: string): void;
  /**
   * The links are back after an outage and every followed channel is subscribed again: messages
   * may have been missed, so each held topic is checked; the broker is ready when this settles.
   */
  restored(): Promise<void>;
  /** a topic's last seq and epoch as the broker has them, from the periodic check (a lost tail message shows here) */
  top(topic: string, seq: number, epoch: string | null): void;
  /**
   * Messages of a followed topic were not handed to this hub (the main thread of --workers skips
   * them for a worker that fell behind): read back what follows the hub's seq.
   */
  missed(topic: string): void;
  /** the topics the hub follows now, for the periodic check */
  followed(): Iterable<string>;
  /**
   * Who is present on a topic as the hub's own members see it: what a broker that keeps no
   * presence of its own (keepsPresence false) answers presenceList with.
   */
  present?(topic: string, limit: number): PresenceList;
}

export type BrokerState = 'connecting' | 'catching_up' | 'up' | 'down' | 'stopped';

export interface BrokerHealth {
  broker: string;
  state: BrokerState;
  /** when the broker is not up, why (the last link error) */
  reason?: string;
}

/** Thrown (rejected) by a shared broker that cannot serve: answered `unavailable`. */
export class BrokerUnavailableError extends Error {}

/**
 * Rejected by a broker that holds --max-topics topics, every one followed, when asked to create
 * another (a publish, or a read with `create`): none can be evicted to make room. Both brokers
 * bound their topics this way, Redis over every node (scripts.ts). The hub answers it `topic_limit`.
 */
export class BrokerTopicLimitError extends BrokerUnavailableError {}

/** A command the broker did not answer within --broker-timeout: a publish may have happened. */
export class BrokerTimeoutError extends BrokerUnavailableError {}

/**
 * Redis answered with an error reply (OOM past maxmemory, READONLY on a replica, ...): its text
 * names no address, and the client is told it, so the refusal is loud.
 */
export class BrokerRefusedError extends BrokerUnavailableError {}

export interface SharedBroker {
  readonly name: string;
  /**
   * The broker lives in this process (the in-process broker, or the main thread's seen from a
   * worker): always up, its store is the server's (what /metrics shows as topics and history
   * bytes), a subscription makes a topic's record (its --max-topics counts subscriptions), and a
   * publish's receivers can be counted here. A capability the hub and the host read, not the
   * broker's name.
   */
  readonly inProcess: boolean;
  /**
   * The broker records presence (every node's joins and leaves, refreshed before they expire).
   * False for the in-process broker of a single process, whose one hub is everyone: it answers
   * presenceList from that hub's members (BrokerEvents.present), and nothing is written to it.
   */
  readonly keepsPresence: boolean;
  /** The server's bounded store, when it is in this thread: what the hub reports as its topics and history bytes. */
  readonly store?: { readonly size: number; readonly historyBytes: number };
  /** connected, subscribed and caught up: requests may be served */
  readonly ready: boolean;
  health(): BrokerHealth;
  start(events: BrokerEvents): Promise<void>;
  stop(): Promise<void>;
  /** Numbers, stores and publishes one message; `origin` is the local connection to exclude (-1 none). */
  publish(topic: string, data: Uint8Array, origin: number, key: string | undefined): Answer<Published>;
  /** Subscribes the topic's channel (answers once confirmed). */
  follow(topic: string): Answer<void>;
  unfollow(topic: string): void;
  /**
   * The topic's state and up to `count` messages with seq > `after` (or the newest `count` when
   * `after` is 'newest'), no more than `bytes` of data but at least one. `create` makes the
   * topic when it does not exist; the hub asks it only to remake a record the broker lost under
   * its subscribers (a subscription never makes one: its topic reads as epoch null until the
   * first publish).
   */
  read(topic: string, after: number | 'newest', count: number, create: boolean, bytes: number): Answer<TopicState>;
  /** This node's clients joined, are still present on, or left a topic. Failures are counted, not thrown. */
  presence(topic: string, op: 'join' | 'leave' | 'refresh', clients: readonly { client: string; user: string }[]): void;
  presenceList(topic: string, limit: number): Answer<PresenceList>;
  /** This node's subscribers of a topic are now `count` (a broker that counts receivers listens). */
  members?(topic: string, count: number): void;
  /** This node has (true) or no longer has (false) connections that negotiated permessage-deflate. */
  deflating?(on: boolean): void;
}
