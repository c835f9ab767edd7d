#!/usr/bin/env node
// npm run bench:workers: ringcast --workers 2 against --workers 1 on the
// fixed 400k deliveries/s, 1k x 64 B and 1k x 16 KiB scenarios, uring and ws: (a) the server on
// CPU 0 and the generator alone on CPU 1, so the ratio of CPU per delivery is the cost of the
// cross-worker hop; (b) the server on CPUs 0,1 with the generator on the same two (it competes);
// (c) a scaling model for 4, 8 and 16 cores from the measured costs. Writes every run's JSON
// under loadtest/results/ and loadtest/reports/DATE-COMMIT-workers.md.
//   --quick              1 repeat, short windows (about 3 minutes)
//   --setups a,b         subset of lib/config.mjs WORKERS_SETUPS: uring-w1-one-core,
//                        uring-w2-one-core, ws-w1-one-core, ws-w2-one-core, uring-w1-shared,
//                        uring-w2-shared (default) and ws-w1-shared, ws-w2-shared,
//                       uring-w1-sqpoll-one-core, uring-w1-sqpoll-shared (only when named)
//   --scenarios a,b      subset of fixed-400k-10k,fanout-1k-64B,large-1k-16KiB
//   --repeats N          measured runs per scenario and setup (3; quick 1)
//   --ringcast-cli PATH  the ringcast CLI to run (default: this checkout's dist/server/cli.js);
//                        RINGCAST_ADDON in the environment picks its addon
//   --no-report          results JSON only
//   --report-from FILE   only render the report again from a results/*/bench.json
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { scenarios, WORKERS_SCENARIOS, WORKERS_SETUPS, workersTiming } from './lib/config.mjs';
import { runFanout } from './lib/runs.mjs';
import {
  answeredWithoutRunning,
  benchArgs,
  buildLoadgen,
  findRingcast,
  LOADTEST,
  machineInfo,
  pick,
  ringcastSource,
} from './lib/setup.mjs';
import { writeReport } from './lib/workers-report.mjs';

const args = benchArgs('bench:workers', {
  quick: { type: 'boolean', default: false },
  setups: { type: 'string' },
  'ringcast-cli': { type: 'string' },
});

const log = (...m) => console.error(`[bench:workers ${new Date().toISOString().slice(11, 19)}]`, ...m);

/** The worker count the server's listen line reports ("workers": N), or null without one. */
function workersSeen(logFile) {
  try {
    for (const line of readFileSync(logFile, 'utf8').split('\n')) {
      if (!line.includes('"listening"')) continue;
      const rec = JSON.parse(line);
      if (rec.event === 'listening') return rec.workers ?? 1;
    }
  } catch {
    // no log, or not JSON: unknown
  }
  return null;
}

function headline(r) {
  if (!r.ok) return r.unavailable ? `unavailable: ${r.error}` : `FAILED: ${r.error}`;
  return (
    `${Math.round(r.deliveriesPerS)} deliveries/s, ${r.cpuUsPerDelivery.toFixed(3)} us CPU/delivery, ` +
    `main thread ${r.mainThreadCpuUsPerPublish.toFixed(1)} us/publish, p99 ${(r.latencyUs.p99 / 1000).toFixed(1)} ms, ` +
    `server ${r.serverBusyPct.toFixed(0)}% loadgen ${r.loadgenBusyPct.toFixed(0)}% other ${r.otherLoadPct.toFixed(0)}%, ` +
    `lost ${r.lost} dup ${r.duplicated} reord ${r.reordered}, workers ${r.workersSeen ?? '?'}`
  );
}

async function main() {
  if (answeredWithoutRunning(args, import.meta.url, log, (file) => writeReport(JSON.parse(readFileSync(file, 'utf8'))))) return;
  const profile = args.quick ? 'quick' : 'full';
  const timing = workersTiming(args.quick);
  if (args.repeats) timing.repeats = Number(args.repeats);
  const setups = args.setups ? pick(WORKERS_SETUPS, args.setups, 'name') : WORKERS_SETUPS.filter((s) => !s.extra);
  const plan = pick(
    scenarios('full').filter((s) => WORKERS_SCENARIOS.includes(s.id)),
    args.scenarios,
    'id',
  );

  buildLoadgen(log);
  const ringcast = findRingcast(log, args['ringcast-cli']);
  if (!ringcast.cli) throw new Error(`ringcast: ${ringcast.reason}`);
  if (!execFileSync('node', [ringcast.cli, '--help'], { encoding: 'utf8' }).includes('--workers')) {
    throw new Error(`${ringcast.cli} has no --workers: point --ringcast-cli at a build that has (see loadtest/README.md)`);
  }
  const tools = { ringcastCli: ringcast.cli, ringcastNodeFlags: ringcast.nodeFlags };
  const machine = machineInfo();
  const source = ringcastSource(ringcast.cli);
  const name = `${machine.date.slice(0, 19).replace(/[-:]/g, '').replace('T', '-')}-${source.commit}-workers${args.quick ? '-quick' : ''}`;
  const outDir = path.join(LOADTEST, 'results', name);
  const ctx = { tools, machine, logDir: path.join(outDir, 'logs') };
  mkdirSync(ctx.logDir, { recursive: true });
  log(`${profile} run ${name}: ${plan.length} scenarios x ${setups.length} setups x ${timing.repeats}`);

  const runs = [];
  const unavailable = new Map(); // a setup that cannot start is tried once
  for (const scenario of plan) {
    for (let rep = 1; rep <= timing.repeats; rep++) {
      // Setups interleave within a repeat, so a drift of the machine touches them all alike.
      for (const setup of setups) {
        const label = `${scenario.id}-${setup.name}-${rep}`;
        let result = unavailable.get(setup.name) ?? (await runFanout(setup, scenario, timing, ctx, label));
        if (result.unavailable) unavailable.set(setup.name, result);
        else {
          const seen = workersSeen(path.join(ctx.logDir, `${label}.server.log`));
          result = { ...result, workersSeen: seen };
          if (result.ok && seen !== null && seen !== setup.workers) {
            result = { ...result, ok: false, error: `asked for --workers ${setup.workers}, the server started ${seen}` };
          }
        }
        const run = { scenario: scenario.id, setup: setup.name, repeat: rep, ...result };
        runs.push(run);
        writeFileSync(path.join(outDir, `${label}.json`), JSON.stringify(run, null, 2));
        log(`${label}: ${headline(run)}`);
      }
    }
  }

  const all = { name, profile, timing, machine, ringcast: source, setups, scenarios: plan, runs };
  writeFileSync(path.join(outDir, 'bench.json'), JSON.stringify(all, null, 2));
  log(`results: ${outDir}`);
  if (!args['no-report']) log(`report: ${writeReport(all)}`);
}

main().catch((err) => {
  console.error(`bench:workers: ${err.message}`);
  process.exit(1);
});
