// The soak harness as part of `npm test`: a seeded 90-second run against real processes (Redis,
// two nodes with workers on both transports, a memory-broker node, a few hundred SDK clients,
// the whole fault schedule) must pass every invariant (docs/loadtest.md, "Soak"). Nothing here
// measures time: the harness's own bounds are generous grace periods, and a slow machine only
// makes the run take longer, never fail.
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { describeWithRedis } from '../helpers/redis.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
/** Fixed, so a failure in CI replays with `npm run soak -- --minutes 1.5 --seed 2026`. */
const SEED = 2026;

describeWithRedis('soak (seeded, 90 s)', () => {
  let reportDir: string | undefined;
  afterAll(async () => {
    if (reportDir !== undefined) await rm(reportDir, { recursive: true, force: true });
  });

  it(
    'keeps every invariant through the seeded fault schedule',
    async () => {
      reportDir = await mkdtemp(path.join(tmpdir(), 'ringcast-soak-report-'));
      const child = spawn(
        process.execPath,
        ['loadtest/soak/soak.mjs', '--minutes', '1.5', '--seed', String(SEED), '--report-dir', reportDir],
        {
          cwd: ROOT,
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      let output = '';
      child.stdout.on('data', (d: Buffer) => (output += d.toString()));
      child.stderr.on('data', (d: Buffer) => (output += d.toString()));
      const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
      const files = await readdir(reportDir);
      const report = files.find((f) => f.endsWith('.md'));
      const text = report === undefined ? '' : await readFile(path.join(reportDir, report), 'utf8');
      // the tail of the harness's output names the seed and the first violations
      expect({ code, tail: output.split('\n').slice(-40).join('\n') }).toEqual({ code: 0, tail: expect.stringContaining('soak: passed') });
      expect(text).toContain(`seed ${SEED}`);
      expect(files.some((f) => !f.endsWith('.md'))).toBe(true); // the plots' folder
    },
    15 * 60_000,
  );
});
