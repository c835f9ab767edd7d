// A topic's retained messages, oldest first: at most `capacity` encoded msg frames. Frames are
// the exact bytes subscribers received, so a replay is byte-identical. Storage grows with what
// is retained (a topic with one message holds one slot, not `capacity`), and the oldest entry
// can be dropped from outside when the server-wide --max-history-bytes bites.
import type { EncodedMsg } from '../protocol/encode.js';

export interface Retained extends EncodedMsg {
  seq: number;
}

/** A slice of the retained messages chosen to fit a budget. */
export interface Page {
  messages: Retained[];
  /** retained messages in the asked range that were left out */
  more: boolean;
}

/** Bytes an entry holds: its frame and, when made, the compressed twin. */
export function retainedBytes(e: Retained): number {
  return e.frame.length + (e.compressed === undefined ? 0 : e.compressed.length);
}

export class History {
  private entries: Retained[] = [];
  private head = 0; // index of the oldest entry in `entries`
  bytes = 0;

  constructor(readonly capacity: number) {}

  get length(): number {
    return this.entries.length - this.head;
  }

  /** Appends `entry`; returns the entry pushed out by the capacity, if any. */
  push(entry: Retained): Retained | undefined {
    if (this.capacity === 0) return entry;
    this.entries.push(entry);
    this.bytes += retainedBytes(entry);
    return this.length > this.capacity ? this.shift() : undefined;
  }

  /** Drops and returns the oldest entry. */
  shift(): Retained | undefined {
    if (this.length === 0) return undefined;
    const oldest = this.entries[this.head]!;
    this.entries[this.head++] = undefined as unknown as Retained;
    this.bytes -= retainedBytes(oldest);
    if (this.head > 32 && this.head * 2 > this.entries.length) {
      this.entries = this.entries.slice(this.head);
      this.head = 0;
    }
    return oldest;
  }

  /** Seq of the oldest retained message, or undefined when nothing is retained. */
  oldestSeq(): number | undefined {
    return this.length === 0 ? undefined : this.entries[this.head]!.seq;
  }

  /** Index in `entries` of the first message with seq > since (seqs are consecutive). */
  private firstAfter(since: number): number {
    if (this.length === 0) return this.head;
    const oldest = this.entries[this.head]!.seq;
    return this.head + Math.max(0, Math.min(this.length, since - oldest + 1));
  }

  /**
   * Messages with seq > since, oldest first, as many as fit in `maxBytes` (by `cost`) and
   * `maxCount`; at least one when any is retained, so a client can always make progress.
   */
  oldestFirst(since: number, maxBytes: number, maxCount: number, cost: (m: Retained) => number): Page {
    const end = this.entries.length;
    const out: Retained[] = [];
    let bytes = 0;
    for (let i = this.firstAfter(since); i < end; i++) {
      const m = this.entries[i]!;
      bytes += cost(m);
      if (out.length > 0 && (bytes > maxBytes || out.length >= maxCount)) return { messages: out, more: true };
      out.push(m);
    }
    return { messages: out, more: false };
  }

  /** Messages with seq > since, oldest first, but only the newest that fit in the budget. */
  newestFirst(since: number, maxBytes: number, maxCount: number, cost: (m: Retained) => number): Page {
    const start = this.firstAfter(since);
    let i = this.entries.length;
    let bytes = 0;
    while (i > start) {
      const next = bytes + cost(this.entries[i - 1]!);
      const count = this.entries.length - i;
      if (count > 0 && (next > maxBytes || count >= maxCount)) break;
      bytes = next;
      i--;
    }
    return { messages: this.entries.slice(i), more: i > start };
  }
}
