// The built CLI under `node --expose-gc` with its test-only memory probe on
// (RINGCAST_MEMORY_PROBE=1, server/memory-probe.ts): every thread collects garbage fully and
// reports process.memoryUsage() when the process gets SIGURG. Bounds are proven on these numbers,
// never on a counter the server keeps.
import { startCli, type Running } from './cli.js';
import { until } from './client.js';

/** One thread's memory after its collections (bytes). */
export interface ThreadMemory {
  event: 'memory';
  thread: string | number;
  rss: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
  error?: string;
}

/** Every thread's memory added up (rss is the process's, taken from the main thread). */
export interface Memory {
  rss: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
  threads: number;
}

/** Starts `node --expose-gc dist/server/cli.js --host 127.0.0.1 ...args` with the probe on; killed after the test. */
export function startProbed(args: string[]): Running {
  return startCli(args, { RINGCAST_MEMORY_PROBE: '1' }, [], ['--expose-gc']);
}

/** Asks every one of `threads` JavaScript threads for its memory after full collections, and adds them up. */
export async function probe(r: Running, threads: number): Promise<Memory> {
  const from = r.lines.length;
  r.child.kill('SIGURG');
  const answers = () => r.lines.slice(from).filter((l) => l.event === 'memory') as unknown as ThreadMemory[];
  await until(() => answers().length >= threads, 20_000);
  const got = answers().slice(0, threads);
  for (const m of got) if (m.error !== undefined) throw new Error(m.error);
  const main = got.find((m) => m.thread === 'main');
  if (main === undefined) throw new Error('the main thread did not answer the memory probe');
  const sum = (k: 'heapUsed' | 'external' | 'arrayBuffers') => got.reduce((s, m) => s + m[k], 0);
  return { rss: main.rss, heapUsed: sum('heapUsed'), external: sum('external'), arrayBuffers: sum('arrayBuffers'), threads: got.length };
}

export const MiB = 1024 * 1024;
