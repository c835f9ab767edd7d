// Tests only: with RINGCAST_MEMORY_PROBE=1, SIGURG makes every JavaScript thread of the process
// (the main thread and each --workers thread) run full garbage collections and print its
// process.memoryUsage() as one JSON line on stdout:
//   {"event":"memory","thread":"main"|<worker threadId>,"rss":..,"heapUsed":..,"external":..,"arrayBuffers":..}
// so a test can prove a bound on memory, not on a counter the code keeps (docs/metrics.md).
// heapUsed, external and arrayBuffers are per thread (each has its own V8 isolate); rss is the
// process's. gc() exists only when node runs with --expose-gc (workers inherit the flag); without
// it the line says so instead. The main thread reports last, once every worker has collected (or
// after 10 s): shared memory a worker still references is freed only then. SIGURG is ignored by
// default, so a stray one does nothing; SIGUSR1 would start Node's inspector and SIGUSR2 is the
// workers' fault injection (docs/workers.md).
import { BroadcastChannel, isMainThread, threadId } from 'node:worker_threads';

const CHANNEL = 'ringcast-memory-probe';
/** Collections per probe: one more than needed for objects a finalizer or a weak callback frees late. */
const COLLECTIONS = 3;
/** How long the main thread waits for the workers' collections before it reports anyway (ms). */
const WORKERS_WAIT_MS = 10_000;

type Note = 'probe' | { hello: number } | { collected: number };

/** Installs the probe in this thread when RINGCAST_MEMORY_PROBE=1; a no-op otherwise. */
export function installMemoryProbe(): void {
  if (process.env.RINGCAST_MEMORY_PROBE !== '1') return;
  // every thread's channel of this name hears what another thread posts on it, never its own
  const channel = new BroadcastChannel(CHANNEL);
  channel.unref();
  if (!isMainThread) {
    channel.onmessage = (e) => {
      if ((e as { data: Note }).data === 'probe') void report().then(() => channel.postMessage({ collected: threadId }));
    };
    channel.postMessage({ hello: threadId });
    return;
  }
  // The main thread measures after every worker has collected: what they let go of is gone by then.
  const workers = new Set<number>();
  let waiting: { left: Set<number>; done: () => void } | undefined;
  channel.onmessage = (e) => {
    const note = (e as { data: Note }).data;
    if (typeof note !== 'object') return;
    if ('hello' in note) workers.add(note.hello);
    else if (waiting !== undefined && waiting.left.delete(note.collected) && waiting.left.size === 0) waiting.done();
  };
  process.on('SIGURG', () => {
    if (waiting !== undefined) return; // one probe at a time
    const all = new Promise<void>((resolve) => {
      waiting = { left: new Set(workers), done: resolve };
      if (workers.size === 0) resolve();
    });
    channel.postMessage('probe');
    const timer = setTimeout(() => waiting?.done(), WORKERS_WAIT_MS);
    void all.then(() => {
      clearTimeout(timer);
      waiting = undefined;
      return report();
    });
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
