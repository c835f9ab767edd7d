// Topic membership as a dense array of connection ids: add and remove are O(1) (remove swaps
// the last member into the hole), and a fanout hands the transport a view of the array, so
// nothing is looped over, copied or allocated per subscriber in JavaScript.

export class Membership {
  ids: Uint32Array;
  count = 0;

  constructor(initialCapacity = 4) {
    this.ids = new Uint32Array(initialCapacity);
  }

  /** Appends `id`; returns its index, which the caller keeps to remove it later. */
  add(id: number): number {
    if (this.count === this.ids.length) {
      const grown = new Uint32Array(this.ids.length * 2);
      grown.set(this.ids);
      this.ids = grown;
    }
    this.ids[this.count] = id;
    return this.count++;
  }

  /**
   * Removes the member at `index`. Returns the id that moved into `index` (so the caller can
   * update that member's recorded index), or -1 when the removed member was the last one.
   */
  removeAt(index: number): number {
    const last = --this.count;
    if (index === last) return -1;
    const moved = this.ids[last]!;
    this.ids[index] = moved;
    return moved;
  }

  /** The live members, as a view (valid until the next add). */
  view(): Uint32Array {
    return this.ids.subarray(0, this.count);
  }

  /** Shrinks storage after mass departures so a once-popular topic does not pin memory. */
  compact(): void {
    if (this.ids.length > 64 && this.count < this.ids.length / 4) {
      this.ids = this.ids.slice(0, Math.max(4, this.count * 2));
    }
  }
}
