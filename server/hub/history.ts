// A topic's retained messages, oldest first: at most `capacity` of them. In the hub they are the
// encoded msg frames subscribers received, so a replay is byte-identical; in the memory broker
// (--workers) they are the data bytes. Storage grows with what is retained (a topic with one
// message holds one slot, not `capacity`).
//
// Every retained message of a store is also linked into its PublishOrder, the order of retention
// over all topics, which --max-history-bytes evicts from, oldest first. A message leaves the
// order the moment it leaves its topic (pushed out by `capacity`, shed for the byte bound, or its
// topic dropped), so nothing that is gone stays referenced: the bound is on memory, not on a
// counter next to a list of stale entries.
import type { EncodedMsg } from '../protocol/encode.js';

export interface Retained extends EncodedMsg {
  seq: number;
}

/** Bytes a hub entry holds: its frame and, when made, the compressed twin (each a buffer of exactly its bytes). */
export function retainedBytes(e: Retained): number {
  return e.frame.length + (e.compressed === undefined ? 0 : e.compressed.length);
}

/** A slice of the retained messages chosen to fit a budget. */
export interface Page<E = Retained> {
  messages: E[];
  /** retained messages in the asked range that were left out */
  more: boolean;
}

/** One retained message, linked into its store's PublishOrder. */
interface Slot<E extends { seq: number }> {
  readonly entry: E;
  readonly bytes: number;
  readonly history: History<E>;
  older: Slot<E> | undefined;
  newer: Slot<E> | undefined;
}

/** Every retained message of a store, oldest first, over all its topics (a doubly linked list). */
export class PublishOrder<E extends { seq: number }> {
  private oldest: Slot<E> | undefined;
  private newest: Slot<E> | undefined;
  /** bytes of every retained message, by `size` */
  bytes = 0;
  count = 0;

  /** `size`: the bytes an entry holds (what --max-history-bytes counts). */
  constructor(readonly size: (entry: E) => number) {}

  /** Drops the oldest retained message of any topic; false when nothing is retained. */
  evictOldest(): boolean {
    if (this.oldest === undefined) return false;
    this.oldest.history.shift();
    return true;
  }

  /** @internal History's */
  link(slot: Slot<E>): void {
    slot.older = this.newest;
    if (this.newest === undefined) this.oldest = slot;
    else this.newest.newer = slot;
    this.newest = slot;
    this.bytes += slot.bytes;
    this.count++;
  }

  /** @internal History's */
  unlink(slot: Slot<E>): void {
    if (slot.older === undefined) this.oldest = slot.newer;
    else slot.older.newer = slot.newer;
    if (slot.newer === undefined) this.newest = slot.older;
    else slot.newer.older = slot.older;
    slot.older = slot.newer = undefined;
    this.bytes -= slot.bytes;
    this.count--;
  }
}

export class History<E extends { seq: number }> {
  private slots: Slot<E>[] = [];
  private head = 0; // index of the oldest slot in `slots`
  bytes = 0;

  constructor(
    readonly capacity: number,
    private readonly order: PublishOrder<E>,
  ) {}

  get length(): number {
    return this.slots.length - this.head;
  }

  /** Appends `entry`; returns the entry pushed out by the capacity, if any (`entry` itself when capacity is 0). */
  push(entry: E): E | undefined {
    if (this.capacity === 0) return entry;
    const slot: Slot<E> = { entry, bytes: this.order.size(entry), history: this, older: undefined, newer: undefined };
    this.slots.push(slot);
    this.order.link(slot);
    this.bytes += slot.bytes;
    return this.length > this.capacity ? this.shift() : undefined;
  }

  /** Drops and returns the oldest entry. */
  shift(): E | undefined {
    if (this.length === 0) return undefined;
    const oldest = this.slots[this.head]!;
    this.slots[this.head++] = undefined as unknown as Slot<E>;
    this.order.unlink(oldest);
    this.bytes -= oldest.bytes;
    if (this.head > 32 && this.head * 2 > this.slots.length) {
      this.slots = this.slots.slice(this.head);
      this.head = 0;
    }
    return oldest.entry;
  }

  /** Drops every entry. */
  clear(): void {
    for (let i = this.head; i < this.slots.length; i++) this.order.unlink(this.slots[i]!);
    this.slots = [];
    this.head = 0;
    this.bytes = 0;
  }

  /** Seq of the oldest retained message, or undefined when nothing is retained. */
  oldestSeq(): number | undefined {
    return this.length === 0 ? undefined : this.slots[this.head]!.entry.seq;
  }

  /** Index in `slots` of the first message with seq > since (seqs are consecutive). */
  private firstAfter(since: number): number {
    if (this.length === 0) return this.head;
    const oldest = this.slots[this.head]!.entry.seq;
    return this.head + Math.max(0, Math.min(this.length, since - oldest + 1));
  }

  /**
   * Messages with seq > since, oldest first, as many as fit in `maxBytes` (by `cost`) and
   * `maxCount`; at least one when any is retained, so a client can always make progress.
   */
  oldestFirst(since: number, maxBytes: number, maxCount: number, cost: (m: E) => number): Page<E> {
    const end = this.slots.length;
    const out: E[] = [];
    let bytes = 0;
    for (let i = this.firstAfter(since); i < end; i++) {
      const m = this.slots[i]!.entry;
      bytes += cost(m);
      if (out.length > 0 && (bytes > maxBytes || out.length >= maxCount)) return { messages: out, more: true };
      out.push(m);
    }
    return { messages: out, more: false };
  }

  /** Messages with seq > since, oldest first, but only the newest that fit in the budget (at least one). */
  newestFirst(since: number, maxBytes: number, maxCount: number, cost: (m: E) => number): Page<E> {
    const start = this.firstAfter(since);
    let i = this.slots.length;
    let bytes = 0;
    while (i > start) {
      const next = bytes + cost(this.slots[i - 1]!.entry);
      const count = this.slots.length - i;
      if (count > 0 && (next > maxBytes || count >= maxCount)) break;
      bytes = next;
      i--;
    }
    const messages: E[] = [];
    for (let j = i; j < this.slots.length; j++) messages.push(this.slots[j]!.entry);
    return { messages, more: i > start };
  }
}
