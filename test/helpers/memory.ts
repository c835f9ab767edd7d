// The built CLI under `node --expose-gc` with its test-only memory probe on
// (RINGCAST_MEMORY_PROBE=1, server/memory-probe.ts): every thread collects garbage fully and
// reports process.memoryUsage() when the process gets SIGURG. Bounds are proven on these numbers,
// never on a counter the server keeps.
import { spawn } from 'node:child_process';
import { afterEach } from 'vitest';
import { CLI, cleanEnv, type Running } from './cli.js';
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

const running: Running[] = [];
afterEach(() => {
  for (const r of running.splice(0)) r.child.kill('SIGKILL');
});

/** Starts `node --expose-gc dist/server/cli.js --host 127.0.0.1 ...args` with the probe on; killed after the test. */
export function startProbed(args: string[]): Running {
  const child = spawn(process.execPath, ['--expose-gc', CLI, '--host', '127.0.0.1', ...args], {
    env: { ...cleanEnv(), RINGCAST_MEMORY_PROBE: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: Record<string, unknown>[] = [];
  let buf = '';
  const listening = new Promise<Record<string, unknown>>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      let nl;
      while ((nl = buf.indexOf('\n')) !== -1) {
        const line = JSON.parse(buf.slice(0, nl)) as Record<string, unknown>;
        buf = buf.slice(nl + 1);
        lines.push(line);
        if (line.event === 'listening') resolve(line);
      }
    });
    child.once('exit', () => reject(new Error('exited before listening')));
  });
  listening.catch(() => undefined);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const r = { child, lines, listening, exited };
  running.push(r);
  return r;
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
