// The C allocator's free memory, given back to the kernel. glibc keeps what a thread frees inside
// that thread's arena (the main thread's heap, one more per worker thread) and returns only the
// top of a heap; what a burst allocated and freed in the middle stays in the process's RSS. A
// burst is what every Redis restart brings (every subscriber reads back at once), and a 1 MiB
// publish is a 1 MiB frame, which glibc carves from an arena once it has freed one block that
// size (it raises its mmap threshold to the largest block freed). In the soak, malloc_trim(0)
// gave back 90-100 MiB of such memory per node (docs/metrics.md, "Memory"). So: blocks of
// MMAP_PIN_BYTES and more always get a mapping of their own (returned when freed), and the main
// thread checks every TRIM_CHECK_MS how much free memory the arenas keep and, past --malloc-trim
// bytes, has every arena trimmed on a thread of libuv's pool (the kernel's release of many ranges
// can take a tenth of a second, which the event loop does not wait for).
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Logger } from 'pino';
import { loadAddon, type NativeAddon } from './transport/native.js';

/** glibc's own starting threshold, kept from rising (frames above it are rare, and mapped alone). */
export const MMAP_PIN_BYTES = 128 * 1024;

/** How often the free memory is read (a walk over the arenas' free lists, well under 1 ms). */
export const TRIM_CHECK_MS = 5000;

export interface AllocatorStats {
  /** bytes of chunks in use in the arenas */
  inUse: number;
  /** bytes of large allocations with a mapping of their own (given back as soon as freed) */
  mapped: number;
  /** bytes of free chunks the arenas keep: RSS until trimmed (those ever touched) */
  free: number;
}

type Allocator = Pick<NativeAddon, 'allocatorStats' | 'allocatorTrim' | 'allocatorPinMmapThreshold'>;

/**
 * One per process, on the main thread (the registry with the process's series). Without the addon,
 * or on a C library other than glibc, it reads nothing and trims nothing, and says so once.
 */
export class AllocatorTrim {
  private timer: NodeJS.Timeout | undefined;
  /** a trim running on the pool: the next check waits for it */
  private trimming: Promise<boolean> | undefined;
  /** the arenas' free bytes right after the last trim: already given back */
  private trimmedFree = 0;
  private readonly trims: Counter;
  private readonly trimSeconds: Counter;
  private readonly allocator: Allocator | undefined;

  constructor(
    /** --malloc-trim: free bytes past which the arenas are trimmed; 0 = glibc's own ways (still measured) */
    private readonly threshold: number,
    registry: Registry,
    log: Logger,
    allocator: Allocator | undefined = loadAddon().addon,
  ) {
    this.allocator = allocator?.allocatorStats() === undefined ? undefined : allocator;
    if (threshold > 0) this.allocator?.allocatorPinMmapThreshold(MMAP_PIN_BYTES);
    if (this.allocator === undefined && threshold > 0)
      log.info(
        { event: 'malloc_trim_unavailable' },
        '--malloc-trim: the C allocator cannot be read here (no native addon, or not glibc); nothing is trimmed',
      );
    const read = () => this.allocator?.allocatorStats();
    const registers = [registry];
    new Gauge({
      name: 'ringcast_allocator_bytes',
      help: 'Memory the C allocator holds for the whole process (every thread), by state: in_use, mapped (large allocations), free (kept by the arenas: RSS until trimmed)',
      labelNames: ['state'],
      registers,
      collect() {
        const s = read();
        if (s === undefined) return;
        this.set({ state: 'in_use' }, s.inUse);
        this.set({ state: 'mapped' }, s.mapped);
        this.set({ state: 'free' }, s.free);
      },
    });
    this.trims = new Counter({
      name: 'ringcast_allocator_trims_total',
      help: 'malloc_trim(0) calls made because the free memory the arenas kept passed --malloc-trim',
      registers,
    });
    this.trimSeconds = new Counter({
      name: 'ringcast_allocator_trim_seconds_total',
      help: "Time those calls took, on a thread of libuv's pool (a thread that allocates from the arena being walked waits)",
      registers,
    });
  }

  start(): void {
    if (this.allocator === undefined || this.threshold === 0 || this.timer !== undefined) return;
    this.timer = setInterval(() => void this.check(), TRIM_CHECK_MS);
    this.timer.unref();
  }

  /**
   * Trims when the arenas have freed more than the threshold since the last trim (one trim at a
   * time); resolves true when it trimmed.
   */
  check(): Promise<boolean> {
    if (this.trimming !== undefined) return Promise.resolve(false);
    const s = this.allocator?.allocatorStats();
    if (s === undefined || this.threshold === 0) return Promise.resolve(false);
    // free memory already given back still counts as free (its chunks stay on glibc's lists):
    // only what was freed since the last trim is new. Memory reused since lowers the mark.
    this.trimmedFree = Math.min(this.trimmedFree, s.free);
    if (s.free - this.trimmedFree < this.threshold) return Promise.resolve(false);
    const t0 = process.hrtime.bigint();
    const done = (): boolean => {
      this.trimming = undefined;
      this.trimmedFree = this.allocator?.allocatorStats()?.free ?? 0;
      this.trimSeconds.inc(Number(process.hrtime.bigint() - t0) / 1e9);
      this.trims.inc();
      return true;
    };
    this.trimming = (this.allocator!.allocatorTrim() ?? Promise.resolve(false)).then(done, done);
    return this.trimming;
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }
}
