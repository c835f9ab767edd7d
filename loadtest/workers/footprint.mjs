// Memory and start-up cost of one more worker: a worker_thread versus a forked process, idle
// (each imports nothing but node: builtins). RSS delta of the whole tree, /proc.
//   node loadtest/workers/footprint.mjs [--n 4]
import { Worker } from 'node:worker_threads';
import { fork } from 'node:child_process';
import { readFileSync } from 'node:fs';

if (process.argv.includes('--child')) {
  setInterval(() => {}, 1e6);
  process.send('up');
} else {
  const n = Number(process.argv[process.argv.indexOf('--n') + 1] || 4);
  const rssKiB = (pid = 'self') => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);
  const pssKiB = (pid) => Number(/Pss:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))[1]);
  const settle = () => new Promise((r) => setTimeout(r, 300));
  const code = 'setInterval(() => {}, 1e6);';

  await settle();
  const base = rssKiB();
  let t0 = performance.now();
  const ws = [];
  for (let i = 0; i < n; i++) {
    const w = new Worker(code, { eval: true });
    await new Promise((r) => w.once('online', r));
    ws.push(w);
  }
  const tThreads = (performance.now() - t0) / n;
  await settle();
  const withThreads = rssKiB();
  for (const w of ws) await w.terminate();

  t0 = performance.now();
  const cs = [];
  for (let i = 0; i < n; i++) {
    const c = fork(process.argv[1], ['--child']);
    await new Promise((r) => c.once('message', r));
    cs.push(c);
  }
  const tProcs = (performance.now() - t0) / n;
  await settle();
  const procs = cs.reduce((s, c) => s + rssKiB(c.pid), 0);
  const procsPss = cs.reduce((s, c) => s + pssKiB(c.pid), 0);
  for (const c of cs) c.kill();
  console.log(
    `worker_thread: +${((withThreads - base) / n / 1024).toFixed(1)} MiB RSS each, ${tThreads.toFixed(0)} ms to online; ` +
      `process: ${(procs / n / 1024).toFixed(1)} MiB RSS (${(procsPss / n / 1024).toFixed(1)} MiB PSS) each, ${tProcs.toFixed(0)} ms to first message (n=${n})`,
  );
}
