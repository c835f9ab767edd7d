// How long this process's event loop was held, measured so that a busy machine cannot fail a
// test: the longest gap between two ticks counts the CPU time the process spent within it, not
// the wall-clock time (a core taken away by another process lengthens the gap, not the work).
// Other threads of the process (GC helpers, a worker) may add to the CPU time; the bound is the
// smaller of the two, so it never exceeds the gap itself.
export interface LoopWatch {
  /** stops watching: the longest gap in wall-clock ms, and the process's CPU ms within it */
  stop(): { wallMs: number; cpuMs: number };
}

export function watchLoop(everyMs = 5): LoopWatch {
  let last = performance.now();
  let lastCpu = process.cpuUsage();
  let wallMs = 0;
  let cpuMs = 0;
  const tick = setInterval(() => {
    const now = performance.now();
    const cpu = process.cpuUsage();
    const busy = (cpu.user - lastCpu.user + cpu.system - lastCpu.system) / 1000;
    wallMs = Math.max(wallMs, now - last);
    cpuMs = Math.max(cpuMs, Math.min(busy, now - last));
    last = now;
    lastCpu = cpu;
  }, everyMs);
  return {
    stop() {
      clearInterval(tick);
      return { wallMs, cpuMs };
    },
  };
}
