// --malloc-trim (server/allocator.ts): free memory the C allocator keeps goes back to the kernel.
// Proven on the process's RSS, in a child process of its own (under --expose-gc) that makes the
// allocator keep memory the way a burst of frames does: many blocks, every other one freed, so
// nothing coalesces into a heap top glibc would return by itself.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadAddon } from '../../server/transport/native.js';
import { runSync, startCli } from '../helpers/cli.js';
import { startServer, transports } from '../helpers/server.js';

const ALLOCATOR = fileURLToPath(new URL('../../dist/server/allocator.js', import.meta.url));
const MiB = 1024 * 1024;

interface Outcome {
  before: { inUse: number; mapped: number; free: number };
  after: { inUse: number; mapped: number; free: number };
  rssBefore: number;
  rssAfter: number;
  trimmed: boolean;
  trims: number;
  bigMapped: number;
  loopRan: boolean;
  again: boolean;
}

/** Runs the burst in a fresh `node --expose-gc` with AllocatorTrim(threshold) and reports. */
function burst(threshold: number): Outcome {
  const script = `
    import { Registry } from 'prom-client';
    import { pino } from 'pino';
    import { AllocatorTrim } from ${JSON.stringify(ALLOCATOR)};
    const registry = new Registry();
    const trim = new AllocatorTrim(${threshold}, registry, pino({ level: 'silent' }));
    // 4,096 blocks of 32 KiB, written (so resident), every other one dropped: 64 MiB free in holes
    let blocks = [];
    for (let i = 0; i < 4096; i++) blocks.push(Buffer.alloc(32 * 1024, 1));
    blocks = blocks.filter((_, i) => i % 2 === 1);
    gc(); gc();
    const { addon } = (await import(${JSON.stringify(fileURLToPath(new URL('../../dist/server/transport/native.js', import.meta.url)))})).loadAddon();
    // one 1 MiB block freed: without the pinned threshold glibc would carve the next ones from an
    // arena. V8 may free a buffer's memory on a thread of its own: wait until it is gone.
    let big = Buffer.alloc(MiB_, 1);
    const withBig = addon.allocatorStats().mapped;
    big = undefined;
    for (let i = 0; i < 200 && addon.allocatorStats().mapped > withBig - MiB_; i++) {
      gc();
      await new Promise((r) => setTimeout(r, 10));
    }
    if (addon.allocatorStats().mapped > withBig - MiB_) throw new Error('the 1 MiB block was not freed');
    const mappedBefore = addon.allocatorStats().mapped;
    const kept = Array.from({ length: 4 }, () => Buffer.alloc(MiB_, 1));
    const bigMapped = addon.allocatorStats().mapped - mappedBefore;
    const before = addon.allocatorStats();
    const rssBefore = process.memoryUsage().rss;
    // a trim on libuv's pool answers from a later turn of the loop: not yet once the microtasks ran
    const pending = trim.check();
    let settled = false;
    void pending.then(() => (settled = true));
    for (let i = 0; i < 10; i++) await Promise.resolve();
    const loopRan = !settled;
    const trimmed = await pending;
    // right after: what is free was given back already, so a second check does not trim again
    const again = await trim.check();
    const rssAfter = process.memoryUsage().rss;
    const after = addon.allocatorStats();
    const trims = (await registry.getSingleMetric('ringcast_allocator_trims_total').get()).values[0].value;
    console.log(JSON.stringify({ before, after, rssBefore, rssAfter, trimmed, again, trims, bigMapped, loopRan, keep: blocks.length + kept.length }));
  `.replace(/MiB_/g, String(MiB));
  const r = spawnSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 120_000 });
  if (r.status !== 0) throw new Error(`burst child failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as Outcome;
}

// ASan replaces malloc: there is no glibc arena to read or trim (test-asan.sh leaves this file out)
const glibc = loadAddon().addon?.allocatorStats() !== undefined;

describe.skipIf(!glibc)('--malloc-trim', () => {
  it('gives the free memory of a burst back to the kernel once it passes the threshold', () => {
    const o = burst(16 * MiB);
    expect(o.before.free).toBeGreaterThan(48 * MiB);
    expect(o.trimmed).toBe(true);
    expect(o.trims).toBe(1);
    expect(o.again).toBe(false);
    expect(o.loopRan).toBe(true);
    // the holes were written, so resident: most of them leave RSS
    expect(o.rssBefore - o.rssAfter).toBeGreaterThan(32 * MiB);
  });

  it('keeps the memory below the threshold, and with 0 keeps glibc as it is', () => {
    const below = burst(256 * MiB);
    expect(below.trimmed).toBe(false);
    expect(below.trims).toBe(0);
    const off = burst(0);
    expect(off.trimmed).toBe(false);
    expect(off.rssBefore - off.rssAfter).toBeLessThan(8 * MiB);
  });

  it('maps every large block alone, even after a large one was freed', () => {
    // glibc alone raises its threshold past 1 MiB after the first 1 MiB free: the next comes from an arena
    expect(burst(0).bigMapped).toBe(0);
    expect(burst(16 * MiB).bigMapped).toBeGreaterThanOrEqual(4 * MiB);
  });
});

describe('--malloc-trim, the flag and the series', () => {
  it('refuses a value that is not a byte count', () => {
    for (const bad of ['-1', '1.5', 'lots']) {
      const r = runSync(['--malloc-trim', bad]);
      expect(r.status).toBe(2);
      expect(r.stderr).toMatch(/malloc-trim/);
    }
  });

  const exported = (text: string) => {
    // live blocks there always are; large or free ones may be none at that moment
    expect(text).toMatch(/^ringcast_allocator_bytes\{state="in_use"\} [1-9]/m);
    for (const state of ['mapped', 'free']) expect(text).toMatch(new RegExp(`^ringcast_allocator_bytes\\{state="${state}"\\} \\d`, 'm'));
    // once per process, however many threads: the arenas are the process's
    expect(text.match(/^ringcast_allocator_trims_total \d+$/gm)).toHaveLength(1);
  };

  for (const transport of transports)
    it.skipIf(!glibc)(`a ${transport} server exports what the allocator holds, by state`, async () => {
      const s = await startServer(transport);
      try {
        exported(await (await fetch(`${s.http}/metrics`)).text());
      } finally {
        await s.close();
      }
    });

  it.skipIf(!glibc)('so does the main thread of --workers 2', async () => {
    const r = startCli(['--port', '0', '--workers', '2']);
    const { port } = (await r.listening) as { port: number };
    exported(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text());
  });
});
