// How many workers `--workers auto` means: the CPUs this process may run on (its affinity mask,
// which is what taskset and a cpuset give it), capped by a cgroup v2 CPU limit (what
// `docker run --cpus` and a Kubernetes CPU limit set), rounded up.
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';

/** The cgroup v2 CPU limit of this process in CPUs (the tightest on its path), or undefined when unlimited. */
export function cgroupCpuLimit(root = '/sys/fs/cgroup', procSelf = '/proc/self/cgroup'): number | undefined {
  let path = '/';
  try {
    const line = readFileSync(procSelf, 'utf8')
      .split('\n')
      .find((l) => l.startsWith('0::'));
    if (line !== undefined) path = line.slice(3).trim() || '/';
  } catch {
    return undefined;
  }
  let limit: number | undefined;
  // from the process's own group up to the root: the smallest quota wins
  for (let dir = path; ; dir = dir.slice(0, dir.lastIndexOf('/')) || '/') {
    try {
      const [quota, period] = readFileSync(`${root}${dir === '/' ? '' : dir}/cpu.max`, 'utf8')
        .trim()
        .split(/\s+/);
      const q = Number(quota);
      const p = Number(period);
      if (quota !== 'max' && q > 0 && p > 0) limit = Math.min(limit ?? Infinity, q / p);
    } catch {
      // no cpu controller at this level
    }
    if (dir === '/') break;
  }
  return limit;
}

/** The number of workers for `--workers`: a number as given, `auto` as above (at least 1). */
export function resolveWorkers(value: number | 'auto'): { workers: number; why: string } {
  if (value !== 'auto') return { workers: value, why: '--workers' };
  const cpus = availableParallelism();
  const limit = cgroupCpuLimit();
  if (limit !== undefined && Math.ceil(limit) < cpus) return { workers: Math.max(1, Math.ceil(limit)), why: `cgroup CPU limit ${limit}` };
  return { workers: cpus, why: `${cpus} CPUs in the affinity mask` };
}
