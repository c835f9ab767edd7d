// Server-side measurement from /proc: CPU (utime + stime of every thread) and resident memory.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

let ticksPerSecond;
function clockTicks() {
  ticksPerSecond ??= Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
  return ticksPerSecond;
}

/**
 * CPU seconds the process has used so far. /proc/PID/stat counts all of its threads, those
 * that have exited included (checked with a busy worker thread: the process's figure is the sum
 * of its threads' /proc/PID/task/TID/stat, and keeps the worker's time after it exits). With `tid`, one
 * thread's: /proc/PID/task/TID/stat (tid = pid is the main thread).
 */
export function cpuSeconds(pid, tid) {
  const stat = readFileSync(tid === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${tid}/stat`, 'utf8');
  // Fields after the command name, which is in parentheses and may contain spaces.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return (utime + stime) / clockTicks();
}

/** Resident set size in bytes. */
export function rssBytes(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /^VmRSS:\s+(\d+) kB/m.exec(status);
  return m ? Number(m[1]) * 1024 : NaN;
}

/** A CPU meter over a window: start() then stop() gives seconds and % of one core (of one thread with tid). */
export function cpuMeter(pid, tid) {
  let t0, c0;
  return {
    start() {
      t0 = process.hrtime.bigint();
      c0 = cpuSeconds(pid, tid);
    },
    stop() {
      const wall = Number(process.hrtime.bigint() - t0) / 1e9;
      const cpu = cpuSeconds(pid, tid) - c0;
      return { cpuSeconds: cpu, wallSeconds: wall, busyPct: (100 * cpu) / wall };
    },
  };
}

/** Jiffies per CPU from /proc/stat: time in tasks, in interrupts, stolen, and in total. */
function cpuTimes() {
  const out = {};
  for (const line of readFileSync('/proc/stat', 'utf8').split('\n')) {
    const m = /^cpu(\d+) (.*)$/.exec(line);
    if (!m) continue;
    const [user, nice, system, idle, iowait, irq, softirq, steal] = m[2].trim().split(/\s+/).map(Number);
    out[m[1]] = {
      task: user + nice + system,
      // Loopback TCP work runs largely in softirq, which the kernel may not charge to the task.
      irq: irq + softirq,
      steal,
      total: user + nice + system + idle + iowait + irq + softirq + steal,
    };
  }
  return out;
}

/**
 * One core over a window: start() then stop() gives, in % of that core, the time spent in
 * tasks (every process on it), in interrupts, and stolen by the hypervisor.
 */
export function coreMeter(cpu) {
  let t0;
  return {
    start() {
      t0 = cpuTimes()[cpu];
    },
    stop() {
      const t1 = cpuTimes()[cpu];
      const total = t1.total - t0.total;
      const pct = (k) => (total > 0 ? (100 * (t1[k] - t0[k])) / total : NaN);
      return { taskPct: pct('task'), irqPct: pct('irq'), stealPct: pct('steal') };
    },
  };
}
