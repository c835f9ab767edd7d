// --workers: the flag's values, and what `auto` reads (the affinity mask and a cgroup v2 CPU limit).
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cgroupCpuLimit, resolveWorkers } from '../../server/cluster/cpus.js';
import { ConfigError, loadConfig } from '../../server/config.js';

const run = (argv: string[]) => {
  const action = loadConfig(argv, {});
  if (action.kind !== 'run') throw new Error('not a run');
  return action.config;
};

describe('--workers', () => {
  it('takes a count or auto, and refuses anything else naming the flag', () => {
    expect(run([]).workers).toBe(1);
    expect(run(['--workers', '4']).workers).toBe(4);
    expect(run(['--workers', 'auto']).workers).toBe('auto');
    expect(loadConfig([], { RINGCAST_WORKERS: '3' })).toMatchObject({ config: { workers: 3 } });
    for (const bad of ['0', '-1', '1.5', 'many', '257', '']) {
      expect(() => run(['--workers', bad])).toThrow(ConfigError);
      expect(() => run(['--workers', bad])).toThrow('--workers');
    }
  });

  it('resolves a count as given and auto to the CPUs this process may use', () => {
    expect(resolveWorkers(3)).toEqual({ workers: 3, why: '--workers' });
    const auto = resolveWorkers('auto');
    expect(auto.workers).toBeGreaterThanOrEqual(1);
    expect(auto.workers).toBeLessThanOrEqual(availableParallelism());
  });

  describe('the cgroup v2 CPU limit', () => {
    /** A fake /sys/fs/cgroup and /proc/self/cgroup: `limits` maps a group path to its cpu.max. */
    function fake(group: string, limits: Record<string, string>): [string, string] {
      const dir = mkdtempSync(join(tmpdir(), 'ringcast-cgroup-'));
      const root = join(dir, 'cgroup');
      for (const [path, max] of Object.entries(limits)) {
        mkdirSync(join(root, path), { recursive: true });
        writeFileSync(join(root, path, 'cpu.max'), max + '\n');
      }
      mkdirSync(root, { recursive: true });
      writeFileSync(join(dir, 'self'), `0::${group}\n`);
      return [root, join(dir, 'self')];
    }

    it('is undefined without a quota', () => {
      expect(cgroupCpuLimit(...fake('/', { '/': 'max 100000' }))).toBeUndefined();
      expect(cgroupCpuLimit(...fake('/a/b', {}))).toBeUndefined();
    });

    it('reads the quota over the period, the tightest on the path from the group to the root', () => {
      expect(cgroupCpuLimit(...fake('/', { '/': '250000 100000' }))).toBe(2.5);
      expect(cgroupCpuLimit(...fake('/kubepods/pod1/c1', { '/kubepods': '800000 100000', '/kubepods/pod1/c1': '200000 100000' }))).toBe(2);
      expect(cgroupCpuLimit(...fake('/kubepods/pod1/c1', { '/kubepods': '100000 100000', '/kubepods/pod1/c1': 'max 100000' }))).toBe(1);
    });

    it('is undefined when /proc/self/cgroup cannot be read', () => {
      expect(cgroupCpuLimit('/nonexistent', '/nonexistent/self')).toBeUndefined();
    });
  });
});
