// The Node flags the server runs with (package.json start) are the same on every way in: the
// bin (a sh line that execs node), the Docker image's CMD and the bench's launcher; and V8
// honours them.
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { nodeFlags as benchNodeFlags } from '../loadtest/lib/setup.mjs';
import { CLI_PATH, nodeFlags, ROOT } from './helpers/launch.js';

const flags = nodeFlags();

/** The flags the bin's second line execs node with: `//bin/sh -c :; exec node FLAGS "$0" "$@"`. */
function binFlags(file: string): string[] {
  const [first, second] = readFileSync(`${ROOT}/${file}`, 'utf8').split('\n');
  expect(first).toBe('#!/bin/sh');
  const m = /^\/\/bin\/sh -c :; exec node (.*) "\$0" "\$@"$/.exec(second ?? '');
  expect(m, `second line of ${file}: ${second}`).not.toBeNull();
  return m![1]!.trim().split(/\s+/);
}

describe('launch flags', () => {
  it('keeps the young generation small: npm start names --max-semi-space-size', () => {
    expect(flags.some((f) => /^--max-semi-space-size=\d+$/.test(f))).toBe(true);
  });

  it('the bin, in the source and the build, execs node with the same flags (sh, then JS)', async () => {
    expect(binFlags('server/cli.ts')).toEqual(flags);
    expect(binFlags(CLI_PATH)).toEqual(flags);
    // As the kernel runs it: /bin/sh reads line 2 and execs node, for which both lines are comments.
    const r = spawnSync('/bin/sh', [CLI_PATH, '--help'], { cwd: ROOT, encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('--transport');
    // exec keeps the pid: the process sh started is node itself, with the flags.
    const child = spawn('/bin/sh', [CLI_PATH, '--host', '127.0.0.1', '--port', '0', '--log-level', 'info'], { cwd: ROOT });
    try {
      await new Promise((resolve) => child.stdout.once('data', resolve)); // the listen line
      const argv = readFileSync(`/proc/${child.pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
      expect(argv.slice(0, flags.length + 2)).toEqual(['node', ...flags, CLI_PATH]);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('the Dockerfile CMD runs node with the same flags', () => {
    const cmd = readFileSync(`${ROOT}/Dockerfile`, 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('CMD '));
    expect(cmd).toHaveLength(1);
    expect(JSON.parse(cmd[0]!.slice(4))).toEqual(['node', ...flags, CLI_PATH]);
  });

  it('the bench launches ringcast with the same flags', () => {
    expect(benchNodeFlags()).toEqual(flags);
  });

  it('V8 honours them: the new space stays within twice the semi-space after 40 MB survive', () => {
    const semi = Number(flags.find((f) => f.startsWith('--max-semi-space-size='))!.split('=')[1]);
    const probe =
      `const v8=require('v8');const keep=[];for(let i=0;i<4e5;i++)keep.push({a:i,b:'x'+i,c:[i]});` +
      `console.log(v8.getHeapSpaceStatistics().find(s=>s.space_name==='new_space').space_size)`;
    const measure = (f: string[]) => Number(spawnSync(process.execPath, [...f, '-e', probe], { encoding: 'utf8' }).stdout);
    expect(measure(flags)).toBeLessThanOrEqual(2 * semi * 2 ** 20);
    expect(measure([])).toBeGreaterThan(2 * semi * 2 ** 20); // without them it grows past that
  });
});
