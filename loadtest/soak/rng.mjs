// One seeded PRNG for the whole run (sfc32, seeded through splitmix32): the fault schedule and
// every workload decision draw from streams derived from the same --seed, so a seed replays the
// same schedule and the same choices. Timing on a busy machine still varies; decisions do not.

function splitmix32(a) {
  return () => {
    a = (a + 0x9e3779b9) | 0;
    let t = a ^ (a >>> 16);
    t = Math.imul(t, 0x21f0aaad);
    t ^= t >>> 15;
    t = Math.imul(t, 0x735a2d97);
    return (t ^ (t >>> 15)) >>> 0;
  };
}

export class Rng {
  #a;
  #b;
  #c;
  #d;

  /** @param {number} seed a 32-bit unsigned integer */
  constructor(seed) {
    const mix = splitmix32(seed >>> 0);
    this.#a = mix();
    this.#b = mix();
    this.#c = mix();
    this.#d = mix();
  }

  /** A generator of its own for one concern (schedule, rooms, ...): adding draws to one stream does not shift the others. */
  fork(label) {
    let h = this.#d;
    for (let i = 0; i < label.length; i++) h = Math.imul(h ^ label.charCodeAt(i), 0x01000193) >>> 0;
    return new Rng(h);
  }

  /** uniform in [0, 1) */
  next() {
    const t = (((this.#a + this.#b) | 0) + this.#d) | 0;
    this.#d = (this.#d + 1) | 0;
    this.#a = this.#b ^ (this.#b >>> 9);
    this.#b = (this.#c + (this.#c << 3)) | 0;
    this.#c = (this.#c << 21) | (this.#c >>> 11);
    this.#c = (this.#c + t) | 0;
    return (t >>> 0) / 4294967296;
  }

  /** integer in [lo, hi] */
  int(lo, hi) {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }

  /** uniform in [lo, hi) */
  range(lo, hi) {
    return lo + this.next() * (hi - lo);
  }

  chance(p) {
    return this.next() < p;
  }

  pick(list) {
    return list[Math.floor(this.next() * list.length)];
  }

  /** k distinct elements of list (k clamped to its length) */
  sample(list, k) {
    const copy = [...list];
    const out = [];
    for (let i = 0; i < k && copy.length > 0; i++) out.push(copy.splice(Math.floor(this.next() * copy.length), 1)[0]);
    return out;
  }
}

/** A seed for a run that was given none: printed, so the run can be replayed. */
export function freshSeed() {
  return (Date.now() ^ (process.pid << 16)) >>> 0;
}
