// The Node flags the server runs with (package.json start) are the same on every way in: the
// bin's shebang, the Docker image's CMD and the bench's launcher; and V8 honours them.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { nodeFlags as benchNodeFlags } from '../loadtest/lib/setup.mjs';
import { CLI_PATH, nodeFlags, ROOT } from './helpers/launch.js';

const flags = nodeFlags();

function shebang(file: string): string[] {
  const first = readFileSync(`${ROOT}/${file}`, 'utf8').split('\n')[0]!;
  expect(first.startsWith('#!/usr/bin/env -S ')).toBe(true);
  return first.slice('#!/usr/bin/env -S '.length).trim().split(/\s+/);
}

describe('launch flags', () => {
  it('keeps the young generation small: npm start names --max-semi-space-size', () => {
    expect(flags.some((f) => /^--max-semi-space-size=\d+$/.test(f))).toBe(true);
  });

  it('the bin shebang, in the source and the build, runs node with the same flags', () => {
    expect(shebang('server/cli.ts')).toEqual(['node', ...flags]);
    expect(shebang(CLI_PATH)).toEqual(['node', ...flags]);
    // As the kernel runs the shebang line: env splits it (-S) and execs node with the flags.
    const r = spawnSync('/usr/bin/env', ['-S', ['node', ...flags].join(' '), CLI_PATH, '--help'], { cwd: ROOT, encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('--transport');
  });

  it('the Dockerfile CMD runs node with the same flags', () => {
    const cmd = readFileSync(`${ROOT}/Dockerfile`, 'utf8').split('\n').filter((l) => l.startsWith('CMD '));
    expect(cmd).toHaveLength(1);
    expect(JSON.parse(cmd[0]!.slice(4))).toEqual(['node', ...flags, CLI_PATH]);
  });

  it('the bench launches ringcast with the same flags', () => {
    expect(benchNodeFlags()).toEqual(flags);
  });

  it('V8 honours them: the new space stays within twice the semi-space after 40 MB survive', () => {
    const semi = Number(flags.find((f) => f.startsWith('--max-semi-space-size='))!.split('=')[1]);
    const probe = `const v8=require('v8');const keep=[];for(let i=0;i<4e5;i++)keep.push({a:i,b:'x'+i,c:[i]});` +
      `console.log(v8.getHeapSpaceStatistics().find(s=>s.space_name==='new_space').space_size)`;
    const measure = (f: string[]) => Number(spawnSync(process.execPath, [...f, '-e', probe], { encoding: 'utf8' }).stdout);
    expect(measure(flags)).toBeLessThanOrEqual(2 * semi * 2 ** 20);
    expect(measure([])).toBeGreaterThan(2 * semi * 2 ** 20); // without them it grows past that
  });
});
