// Tests only: with RINGCAST_MEMORY_PROBE=1, SIGURG makes every JavaScript thread of the process
// (the main thread and each --workers thread) run full garbage collections and print its
// process.memoryUsage() as one JSON line on stdout:
//   {"event":"memory","thread":"main"|<worker threadId>,"rss":..,"heapUsed":..,"external":..,"arrayBuffers":..}
// so a test can prove a bound on memory, not on a counter the code keeps (docs/metrics.md).
// heapUsed, external and arrayBuffers are per thread (each has its own V8 isolate); rss is the
// process's. gc() exists only when node runs with --expose-gc (workers inherit the flag); without
// it the line says so instead. SIGURG is ignored by default, so a stray one does nothing; SIGUSR1
// would start Node's inspector and SIGUSR2 is the workers' fault injection (docs/workers.md).
import { BroadcastChannel, isMainThread, threadId } from 'node:worker_threads';

const CHANNEL = 'ringcast-memory-probe';
/** Collections per probe: one more than needed for objects a finalizer or a weak callback frees late. */
const COLLECTIONS = 3;

/** Installs the probe in this thread when RINGCAST_MEMORY_PROBE=1; a no-op otherwise. */
export function installMemoryProbe(): void {
  if (process.env.RINGCAST_MEMORY_PROBE !== '1') return;
  // every thread's channel of this name hears what another thread posts on it, never its own
  const channel = new BroadcastChannel(CHANNEL);
  channel.unref();
  channel.onmessage = () => void report();
  if (isMainThread)
    process.on('SIGURG', () => {
      channel.postMessage('probe');
      void report();
    });
}

async function report(): Promise<void> {
  const thread = isMainThread ? 'main' : threadId;
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) {
    write({ event: 'memory', thread, error: 'gc() is missing: run node with --expose-gc' });
    return;
  }
  for (let i = 0; i < COLLECTIONS; i++) {
    gc();
    // array buffers are freed by a sweeper task after the collection: let it run
    await new Promise((resolve) => setImmediate(resolve));
  }
  write({ event: 'memory', thread, ...process.memoryUsage() });
}

function write(line: object): void {
  process.stdout.write(JSON.stringify(line) + '\n');
}
