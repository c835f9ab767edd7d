#!/usr/bin/env node
// npm run bench [-- --quick]: ringcast (uring, ws) beside ws and Bun on this machine, in one
// run, each server started fresh per scenario on CPU 0 and the generator on CPU 1. Writes every
// run's JSON under loadtest/results/ and a dated report with plots under loadtest/reports/.
//   --quick              about 2 minutes: fewer scenarios, 1 repeat, short windows
//   --servers a,b        subset of ringcast-uring,ringcast-ws,ws,bun
//   --scenarios a,b      subset by id (see lib/config.mjs)
//   --repeats N          measured runs per scenario and server
//   --workers N|auto     ringcast servers run with --workers, pinned to every CPU but the
//                        generator's (auto: as many workers as those CPUs); the peers stay on
//                        CPU 0. For a machine with more than 2 cores (npm run bench:workers
//                        measures the 2-core case)
//   --ringcast-cli PATH  the ringcast CLI to run (default: this checkout's dist/server/cli.js);
//                        RINGCAST_ADDON in the environment picks its addon
//   --no-report          results JSON only
//   --report-from FILE   only render the report again from a results/*/bench.json
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LOADGEN_CPU, SERVERS, scenarios, timing } from './lib/config.mjs';
import { writeReport } from './lib/report.mjs';
import { idleCount, runFanout, runHttp, runIdle } from './lib/runs.mjs';
import {
  answeredWithoutRunning,
  buildLoadgen,
  findBun,
  findRingcast,
  installPeers,
  LOADTEST,
  machineInfo,
  pick,
  ringcastSource,
  benchArgs,
} from './lib/setup.mjs';

const args = benchArgs('bench', {
  quick: { type: 'boolean', default: false },
  servers: { type: 'string' },
  workers: { type: 'string' },
  'ringcast-cli': { type: 'string' },
});

/** --workers N|auto: the value ringcast gets and the CPUs it is pinned to (all but the generator's). */
function workersPlan(value) {
  if (!/^(auto|[1-9]\d*)$/.test(value)) throw new Error(`--workers: expected a number or auto, got ${value}`);
  const cpus = os
    .cpus()
    .map((_, i) => i)
    .filter((c) => c !== LOADGEN_CPU);
  if (cpus.length === 0) throw new Error('--workers: no CPU left for the server beside the generator');
  return { value: value === 'auto' ? 'auto' : Number(value), cpus };
}

const log = (...m) => console.error(`[bench ${new Date().toISOString().slice(11, 19)}]`, ...m);

function headline(kind, r) {
  if (!r.ok) return r.unavailable ? `unavailable: ${r.error}` : r.skipped ? r.error : `FAILED: ${r.error}`;
  if (kind === 'idle') return `${r.held} held, ${Math.round(r.bytesPerConnection)} B/conn`;
  if (kind === 'http') return `${Math.round(r.requestsPerS)} req/s, ${r.cpuUsPerRequest.toFixed(1)} us CPU/req`;
  return (
    `${Math.round(r.deliveriesPerS)} deliveries/s, ${r.cpuUsPerDelivery.toFixed(2)} us CPU/delivery, ` +
    `p99 ${(r.latencyUs.p99 / 1000).toFixed(1)} ms, lost ${r.lost} dup ${r.duplicated} reord ${r.reordered}, ` +
    `loadgen ${r.loadgenBusyPct.toFixed(0)}%${r.limitedByInstrument ? ' LIMITED BY THE INSTRUMENT' : ''}`
  );
}

async function main() {
  if (answeredWithoutRunning(args, import.meta.url, log, (file) => writeReport(JSON.parse(readFileSync(file, 'utf8'))))) return;
  const profile = args.quick ? 'quick' : 'full';
  const t = timing(profile);
  if (args.repeats) t.repeats = Number(args.repeats);
  const workers = args.workers ? workersPlan(args.workers) : null;
  const servers = pick(SERVERS, args.servers, 'name').map((s) =>
    workers && s.kind === 'ringcast' ? { ...s, workers: workers.value, cpus: workers.cpus } : s,
  );
  const plan = pick(scenarios(profile), args.scenarios, 'id');

  installPeers(log);
  buildLoadgen(log);
  const bun = findBun();
  const ringcast = findRingcast(log, args['ringcast-cli']);
  const tools = {
    bunBin: bun.bin,
    bunReason: bun.reason,
    ringcastCli: ringcast.cli,
    ringcastNodeFlags: ringcast.nodeFlags,
    ringcastReason: ringcast.reason,
  };
  const machine = machineInfo(bun.version);
  const stamp = machine.date.slice(0, 19).replace(/[-:]/g, '').replace('T', '-');
  const source = ringcast.cli && args['ringcast-cli'] ? ringcastSource(ringcast.cli) : null;
  const name = `${stamp}-${source?.commit ?? machine.commit}-${profile}${workers ? `-workers-${workers.value}` : ''}`;
  const outDir = path.join(LOADTEST, 'results', name);
  const logDir = path.join(outDir, 'logs');
  mkdirSync(logDir, { recursive: true });
  const ctx = { tools, machine, logDir };
  log(`${profile} run ${name}: ${plan.length} scenarios x ${servers.length} servers x ${t.repeats}`);
  if (workers) log(`ringcast: --workers ${workers.value} on CPUs ${workers.cpus.join(',')}; generator on CPU ${LOADGEN_CPU}`);

  const runs = [];
  const unavailable = new Map(); // a server that cannot start is tried once, not per scenario
  const failures = new Map(); // scenario|server -> failed runs; after 2 the rest are skipped
  const deadline = Date.now() + t.budgetMinutes * 60000;
  for (const scenario of plan) {
    for (let rep = 1; rep <= t.repeats; rep++) {
      // Servers interleave within a repeat, so a drift of the machine touches them all alike.
      for (const server of servers) {
        if (scenario.only && server.kind !== scenario.only) continue;
        const label = `${scenario.id}-${server.name}-${rep}`;
        const key = `${scenario.id}|${server.name}`;
        let result;
        if (unavailable.has(server.name)) result = unavailable.get(server.name);
        else if (Date.now() > deadline) result = { ok: false, skipped: true, error: `skipped: past the ${t.budgetMinutes} min budget` };
        else if ((failures.get(key) ?? 0) >= 2) result = { ok: false, skipped: true, error: 'skipped: failed twice in this scenario' };
        else if (scenario.kind === 'idle') result = await runIdle(server, scenario, ctx, label);
        else if (scenario.kind === 'http') result = await runHttp(server, scenario, t, ctx, label);
        else result = await runFanout(server, scenario, t, ctx, label);
        if (result.unavailable) unavailable.set(server.name, result);
        else if (!result.ok && !result.skipped) failures.set(key, (failures.get(key) ?? 0) + 1);
        const run = { scenario: scenario.id, server: server.name, repeat: rep, ...result };
        runs.push(run);
        writeFileSync(path.join(outDir, `${label}.json`), JSON.stringify(run, null, 2));
        log(`${label}: ${headline(scenario.kind, result)}`);
      }
    }
  }

  const all = {
    name,
    profile,
    timing: t,
    machine,
    ...(workers ? { workers } : {}),
    ...(source ? { ringcast: source } : {}),
    servers: servers.map((s) => s.name),
    scenarios: plan.map((s) => ({ ...s, connections: s.kind === 'idle' ? idleCount(s, machine.nofile) : s.connections })),
    runs,
  };
  writeFileSync(path.join(outDir, 'bench.json'), JSON.stringify(all, null, 2));
  log(`results: ${outDir}`);
  if (!args['no-report']) log(`report: ${writeReport(all)}`);
}

main().catch((err) => {
  console.error(`bench: ${err.message}`);
  process.exit(1);
});
