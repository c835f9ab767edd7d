// How much slower JavaScript copies into shared memory: TypedArray.set of 16 KiB into a
// SharedArrayBuffer versus into an ArrayBuffer, in a tight loop (V8 copies into shared memory
// with relaxed atomic stores). Explains part of hop.mjs's 16 KiB `sab` numbers.
//   node loadtest/workers/sab-copy.mjs
const n = 20000,
  size = 16384,
  src = new Uint8Array(size).fill(3);
for (const [name, buf] of [
  ['ArrayBuffer', new ArrayBuffer(8 << 20)],
  ['SharedArrayBuffer', new SharedArrayBuffer(8 << 20)],
]) {
  const dst = new Uint8Array(buf);
  for (let round = 0; round < 2; round++) {
    const t = performance.now();
    for (let i = 0; i < n; i++) dst.set(src, (i * size) & ((8 << 20) - 1));
    if (round) console.log(`${name}: ${(((performance.now() - t) * 1000) / n).toFixed(2)} µs per 16 KiB TypedArray.set`);
  }
}
