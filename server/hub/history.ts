// A topic's retained messages: a fixed-capacity ring of encoded msg frames, oldest first.
// Frames are the exact bytes subscribers received, so a replay is byte-identical.
import type { EncodedMsg } from '../protocol/encode.js';

export interface Retained extends EncodedMsg {
  seq: number;
}

export class History {
  private readonly ring: (Retained | undefined)[];
  private head = 0; // index of the oldest entry
  private size = 0;
  bytes = 0;

  constructor(readonly capacity: number) {
    this.ring = new Array(capacity);
  }

  get length(): number {
    return this.size;
  }

  push(entry: Retained): void {
    if (this.capacity === 0) return;
    if (this.size === this.capacity) {
      this.bytes -= this.ring[this.head]!.frame.length;
      this.ring[this.head] = entry;
      this.head = (this.head + 1) % this.capacity;
    } else {
      this.ring[(this.head + this.size) % this.capacity] = entry;
      this.size++;
    }
    this.bytes += entry.frame.length;
  }

  /** Seq of the oldest retained message, or undefined when nothing is retained. */
  oldestSeq(): number | undefined {
    return this.size === 0 ? undefined : this.ring[this.head]!.seq;
  }

  /** Retained messages with seq > since, oldest first. */
  since(since: number): Retained[] {
    const out: Retained[] = [];
    if (this.size === 0) return out;
    // seqs are consecutive, so the first wanted entry is found by arithmetic, not search
    const oldest = this.ring[this.head]!.seq;
    const skip = Math.max(0, Math.min(this.size, since - oldest + 1));
    for (let i = skip; i < this.size; i++) out.push(this.ring[(this.head + i) % this.capacity]!);
    return out;
  }
}
