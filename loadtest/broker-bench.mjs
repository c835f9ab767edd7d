#!/usr/bin/env node
// npm run bench:broker: ringcast across two nodes through Redis beside one ringcast
// node and beside ws + ioredis (peers/ws-redis.mjs), in one run: deliveries/s, deliveries per
// server-side CPU second, publish-to-delivery latency, Redis commands per publish and Redis CPU.
// Each run starts its own redis-server on a free port (lib/redis.mjs, as the tests do). Writes
// every run's JSON under loadtest/results/ and loadtest/reports/DATE-COMMIT-broker.md.
//   --setups a,b         subset of ringcast-single,ringcast-redis,ringcast-single-ws,
//                        ringcast-redis-ws,ws-redis (lib/config.mjs BROKER_SETUPS)
//   --scenarios a,b      subset of latency-1k-pubs,fanout-1k-64B
//   --repeats N          measured runs per scenario and setup (1)
//   --no-report          results JSON only
//   --report-from F[,F]  only render the report again from results/*/bench.json; several
//                        files of one commit are pooled (repeats as separate ~1 min runs)
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { BROKER_SETUPS, BROKER_TIMING, brokerScenarios } from './lib/config.mjs';
import { aggregate, goals, writeReport } from './lib/broker-report.mjs';
import { runBroker } from './lib/broker-runs.mjs';
import {
  answeredWithoutRunning,
  buildLoadgen,
  findRingcast,
  installPeers,
  LOADTEST,
  machineInfo,
  PEERS,
  REPO,
  pick,
  benchArgs,
} from './lib/setup.mjs';

const args = benchArgs('bench:broker', { setups: { type: 'string' } });

const log = (...m) => console.error(`[bench:broker ${new Date().toISOString().slice(11, 19)}]`, ...m);

function version(cmd, argv, pattern) {
  try {
    return pattern.exec(execFileSync(cmd, argv, { encoding: 'utf8' }))?.[1] ?? 'unknown';
  } catch {
    return 'missing';
  }
}

function packageVersion(dir) {
  try {
    return JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')).version;
  } catch {
    return 'missing';
  }
}

/** Whether ringcast's io_uring transport runs here, so the report says what --transport auto chose. */
function uringState() {
  const select = path.join(REPO, 'dist', 'server', 'transport', 'select.js');
  const code = `import(${JSON.stringify(select)}).then((m) => console.log(JSON.stringify(m.probeUring())))`;
  try {
    const p = JSON.parse(execFileSync('node', ['-e', code], { encoding: 'utf8' }));
    return p.ok ? 'auto = uring (the io_uring engine runs here)' : `auto = ws (uring unavailable: ${p.reason})`;
  } catch {
    return 'transport probe failed';
  }
}

/** Does this build of ringcast take --broker? Until it does, ringcast-redis is unavailable. */
function hasBrokerFlag(cli) {
  try {
    return execFileSync('node', [cli, '--help'], { encoding: 'utf8' }).includes('--broker');
  } catch {
    return false;
  }
}

/** Several bench.json of one commit as one: their runs together, numbered on. */
function pool(results) {
  const [first] = results;
  const commits = new Set(results.map((r) => r.machine.commit));
  if (commits.size > 1) throw new Error(`--report-from: results of different commits (${[...commits].join(', ')})`);
  if (results.length === 1) return first;
  const seen = new Map();
  const runs = results
    .flatMap((r) => r.runs)
    .map((run) => {
      const key = `${run.scenario}|${run.setup}`;
      seen.set(key, (seen.get(key) ?? 0) + 1);
      return { ...run, repeat: seen.get(key) };
    });
  const setups = [...new Set(results.flatMap((r) => r.setups))];
  const scenarios = [...new Map(results.flatMap((r) => r.scenarios).map((s) => [s.id, s])).values()];
  return {
    ...first,
    name: results.map((r) => r.name).join('+'),
    setups,
    scenarios,
    runs,
    timing: { ...first.timing, repeats: Math.max(...seen.values()) },
    machine: { ...first.machine, date: results.map((r) => r.machine.date).sort()[0], dirty: results.some((r) => r.machine.dirty) },
  };
}

function headline(r) {
  if (!r.ok) return r.unavailable ? `unavailable: ${r.error}` : `FAILED: ${r.error}`;
  const redis = Number.isFinite(r.redisCommandsPerPublish)
    ? `, Redis ${r.redisCommandsPerPublish.toFixed(2)} cmds/publish ${r.redisBusyPct.toFixed(0)}% CPU`
    : '';
  return (
    `${Math.round(r.deliveriesPerS)} deliveries/s, ${Math.round(r.deliveriesPerCpuS)} per server-side CPU s, ` +
    `p50 ${(r.latencyUs.p50 / 1000).toFixed(2)} ms p99 ${(r.latencyUs.p99 / 1000).toFixed(2)} ms${redis}, ` +
    `nodes ${r.nodes.map((n) => `${n.role} ${n.busyPct.toFixed(0)}%`).join(' ')}, loadgen ${r.loadgenBusyPct.toFixed(0)}%, ` +
    `lost ${r.lost} dup ${r.duplicated} reord ${r.reordered}`
  );
}

async function main() {
  const render = (files) => writeReport(pool(files.split(',').map((f) => JSON.parse(readFileSync(f, 'utf8')))));
  if (answeredWithoutRunning(args, import.meta.url, log, render)) return;
  const redisVersion = version('redis-server', ['--version'], /v=(\S+)/);
  if (redisVersion === 'missing') throw new Error('redis-server is not on PATH (Debian: apt-get install redis-server; .ci/run does)');
  const timing = { ...BROKER_TIMING, repeats: args.repeats ? Number(args.repeats) : BROKER_TIMING.repeats };
  const setups = pick(BROKER_SETUPS, args.setups, 'name');
  const plan = pick(brokerScenarios(), args.scenarios, 'id');

  installPeers(log);
  buildLoadgen(log);
  const ringcast = findRingcast(log);
  const tools = { ringcastCli: ringcast.cli, ringcastNodeFlags: ringcast.nodeFlags, ringcastReason: ringcast.reason };
  if (ringcast.cli && !hasBrokerFlag(ringcast.cli)) log('ringcast: this build has no --broker; ringcast-redis will be unavailable');
  const machine = {
    ...machineInfo(),
    redis: redisVersion,
    ioredis: packageVersion(path.join(REPO, 'node_modules', 'ioredis')),
    ioredisPeer: packageVersion(path.join(PEERS, 'node_modules', 'ioredis')),
    uring: uringState(),
  };
  const name = `${machine.date.slice(0, 19).replace(/[-:]/g, '').replace('T', '-')}-${machine.commit}-broker`;
  const outDir = path.join(LOADTEST, 'results', name);
  const ctx = { tools, machine, logDir: path.join(outDir, 'logs') };
  mkdirSync(ctx.logDir, { recursive: true });
  log(`run ${name}: ${plan.length} scenarios x ${setups.length} setups x ${timing.repeats}`);

  const runs = [];
  const unavailable = new Map(); // a setup that cannot start is tried once
  for (const scenario of plan) {
    for (let rep = 1; rep <= timing.repeats; rep++) {
      for (const setup of setups) {
        const label = `${scenario.id}-${setup.name}-${rep}`;
        const result = unavailable.get(setup.name) ?? (await runBroker(setup, scenario, timing, ctx, label));
        if (result.unavailable) unavailable.set(setup.name, result);
        const run = { scenario: scenario.id, setup: setup.name, repeat: rep, ...result };
        runs.push(run);
        writeFileSync(path.join(outDir, `${label}.json`), JSON.stringify(run, null, 2));
        log(`${label}: ${headline(result)}`);
      }
    }
  }
  const all = { name, timing, machine, setups: setups.map((s) => s.name), scenarios: plan, runs };
  writeFileSync(path.join(outDir, 'bench.json'), JSON.stringify(all, null, 2));
  log(`results: ${outDir}`);
  console.log(goals(all, aggregate(all)));
  if (!args['no-report']) log(`report: ${writeReport(all)}`);
}

main().catch((err) => {
  console.error(`bench:broker: ${err.message}`);
  process.exit(1);
});
