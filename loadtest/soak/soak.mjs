#!/usr/bin/env node
// npm run soak -- --minutes N [--seed S]: the whole system, under churn and faults, against real
// processes (docs/loadtest.md, "Soak"). Starts a redis-server and two ringcast nodes (--workers 2;
// uring and ws) on free ports with temp dirs, a link proxy per node, a few hundred SDK clients, runs
// the seeded workload and fault schedule, checks the invariants while it runs and at the end,
// writes a report with plots, and exits 1 when any invariant was violated.
import { execFileSync } from 'node:child_process';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { freePort } from '../lib/server.mjs';
import { buildSchedule, FaultRunner, RESETS } from './faults.mjs';
import { flatness } from './flat.mjs';
import { Ledger } from './ledger.mjs';
import { HEALTHY_FOR_S, Monitor, STUCK_S } from './monitor.mjs';
import { SoakNode } from './node.mjs';
import { LinkProxy } from './proxy.mjs';
import { SoakRedis } from './redis.mjs';
import { writeReport } from './report.mjs';
import { freshSeed, Rng } from './rng.mjs';
import { TICK_MS, Workload, workloadShape } from './workload.mjs';

const MiB = 1024 * 1024;

const HELP = `npm run soak -- --minutes N [--seed S] [--clients N] [--rate R] [--no-report]

  --minutes N     run length (fractions allowed: 1.5 = 90 s)
  --seed S        replay a run: the same fault schedule and workload decisions (printed at start)
  --clients N     SDK clients (default 240), half on each node, a third through the link proxies
  --rate R        scales every publish rate (default 1)
  --fd-limit N    RLIMIT_NOFILE of node B, which the fd-exhaust fault fills (default 1024)
  --report-dir D  where the markdown report and plots go (default loadtest/reports)
  --no-report     print the summary only`;

/** A subscription that hears nothing for this long while its topic is published to is a dead room. */
const DEAD_ROOM_S = 20;

function parseArgs(argv) {
  const o = { minutes: 1.5, seed: undefined, clients: 240, rate: 1, fdLimit: 1024, reportDir: undefined, report: true };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    const num = (lo) => {
      const v = Number(val());
      if (!Number.isFinite(v) || v < lo) throw new Error(`${a}: expected a number >= ${lo}`);
      return v;
    };
    if (a === '--help' || a === '-h') return { help: true };
    else if (a === '--minutes') o.minutes = num(0.5);
    else if (a === '--seed') o.seed = Math.trunc(num(0)) >>> 0;
    else if (a === '--clients') o.clients = Math.trunc(num(8));
    else if (a === '--rate') o.rate = num(0.05);
    else if (a === '--fd-limit') o.fdLimit = Math.trunc(num(256));
    else if (a === '--report-dir') o.reportDir = val();
    else if (a === '--no-report') o.report = false;
    else throw new Error(`unknown argument ${a} (--help lists them)`);
  }
  return o;
}

/**
 * The bounds both nodes run with: small, so churn passes them within a minute. The Redis bound
 * check (monitor.mjs) holds Redis to the same numbers.
 */
export const LIMITS = { maxHistoryBytes: 64 * MiB, maxTopics: 1000, historyTtlS: 45 };

/**
 * Node C: one process with the in-process broker and hub/topics.ts's store (--workers 1; with
 * workers the store is the broker's), a small history cap it passes every few seconds.
 */
export const MEMORY_NODE_CAP = 8 * MiB;
function memoryNodeArgs() {
  // prettier-ignore
  return ['--workers', '1', '--broker', 'memory', '--log-level', 'warn', '--max-history-bytes', String(MEMORY_NODE_CAP),
    '--max-topics', '1000', '--history', '50', '--history-ttl', String(LIMITS.historyTtlS)];
}

/** The flags both nodes run with. */
function nodeArgs(redisUrl) {
  // prettier-ignore
  return ['--workers', '2', '--broker', redisUrl, '--broker-prefix', 'soak', '--log-level', 'warn',
    '--max-history-bytes', String(LIMITS.maxHistoryBytes), '--max-topics', String(LIMITS.maxTopics), '--history', '50',
    '--history-ttl', String(LIMITS.historyTtlS),
    '--presence-ttl', '5', '--idempotency-ttl', '10', '--max-outbound', String(256 * 1024),
    '--broker-probe', '1000', '--broker-timeout', '1000', '--drain-timeout', '3000', '--close-timeout', '2000',
    '--handshake-timeout', '5000', '--ping-interval', '5000', '--accept-backoff', '50'];
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function main() {
  let opts;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`soak: ${err.message}\n`);
    return 2;
  }
  if (opts.help) {
    process.stdout.write(HELP + '\n');
    return 0;
  }
  const seed = opts.seed ?? freshSeed();
  const durationS = opts.minutes * 60;
  // the code that runs is the checkout's as it is now: a commit made during the run is not it
  const commit = gitCommit();
  const log = (line) => process.stdout.write(line + '\n');
  log(
    `soak: seed ${seed}, ${durationS} s, ${opts.clients} clients, rate x${opts.rate} (replay: npm run soak -- --minutes ${opts.minutes} --seed ${seed})`,
  );
  const rng = new Rng(seed);
  let t0 = performance.now();
  const now = () => (performance.now() - t0) / 1000;
  const violations = [];
  const violate = (kind, at, detail) => {
    const v = { kind, at: +at.toFixed(2), detectedAt: +now().toFixed(2), detail };
    violations.push(v);
    if (violations.filter((x) => x.kind === kind).length <= 3)
      log(`VIOLATION ${kind} at t=${v.at}s (detected t=${v.detectedAt}s): ${JSON.stringify(detail)}`);
  };
  const crashed = (what) => violate('unexpected_exit', now(), { what });

  const redis = await SoakRedis.start((why) => crashed(why));
  const ports = { A: await freePort(), B: await freePort() };
  const nodes = {
    A: new SoakNode({ name: 'A', port: ports.A, transport: 'uring', args: nodeArgs(redis.url), onCrash: crashed }),
    B: new SoakNode({ name: 'B', port: ports.B, transport: 'ws', args: nodeArgs(redis.url), nofile: opts.fdLimit, onCrash: crashed }),
  };
  // C: a node with the in-process broker, outside the cluster, fed fresh topics through POST
  // /publish past its --max-history-bytes: what its store drops must leave its memory
  const memoryNode = new SoakNode({ name: 'C', port: await freePort(), transport: 'ws', args: memoryNodeArgs(), onCrash: crashed });
  const proxies = { A: await LinkProxy.start(ports.A), B: await LinkProxy.start(ports.B) };
  const ledger = new Ledger(violate, now, () => faults.events);
  const shape = workloadShape(opts.clients, opts.rate);
  const workload = new Workload({ rng, ledger, shape, nodes, proxies, memoryNode, now });
  const faults = new FaultRunner({ redis, nodes, proxies, workload, now, violate, log });
  const monitor = new Monitor({ redis, nodes, memoryNode, faults, workload, now, violate, limits: LIMITS });
  const schedule = buildSchedule(rng.fork('schedule'), durationS, Object.keys(nodes), 'B');
  const loop = monitorEventLoopDelay({ resolution: 20 });
  const timers = [];
  let exitCode = 1;
  try {
    await Promise.all([...Object.values(nodes), memoryNode].map((n) => n.start()));
    log(
      `soak: redis ${redis.url} (pid ${redis.pid}); node A uring :${ports.A} (pid ${nodes.A.pid}); node B ws :${ports.B} (pid ${nodes.B.pid}, RLIMIT_NOFILE ${opts.fdLimit})`,
    );
    log(`soak: schedule ${schedule.map((f) => `${f.at}s ${f.kind}`).join(', ')}`);
    await workload.connect();
    log(
      `soak: ${workload.clients.length} clients and ${workload.probers.length} probers connected after ${now().toFixed(1)} s; the run's clock starts`,
    );
    t0 = performance.now();
    workload.begin();
    loop.enable();
    const every = (ms, fn) => {
      let busy = false;
      timers.push(
        setInterval(() => {
          if (busy) return;
          busy = true;
          Promise.resolve(fn()).finally(() => (busy = false));
        }, ms),
      );
    };
    every(TICK_MS, () => workload.tick());
    every(1000, () => monitor.sample());
    every(2000, () => monitor.sampleMetrics());
    every(500, () => monitor.checkHealth());
    every(5000, () => monitor.checkRedisBounds());
    every(1000, () => {
      ledger.checkDeadRooms(DEAD_ROOM_S);
      monitor.checkProbers();
    });
    every(10_000, () => ledger.prune());
    // slow consumers: spread over the run after the warm-up, each paused for 15 s
    const slowEvery = (durationS * 0.7) / shape.slowConsumers;
    let nextSlow = durationS * 0.1;
    let nextFault = 0;
    let lastReport = 0;
    while (now() < durationS) {
      const t = now();
      if (nextFault < schedule.length && faults.active === 0 && t >= schedule[nextFault].at && t - faults.lastEnd >= 1.5)
        void faults.run(schedule[nextFault++]);
      if (t >= nextSlow) {
        workload.startSlowConsumer(15_000);
        nextSlow += slowEvery;
      }
      if (t - lastReport >= 15) {
        lastReport = t;
        const c = ledger.counts;
        log(
          `soak: t=${t.toFixed(0)}s acked ${c.publishesAcked}/${c.publishesSent} deliveries ${c.deliveries} gap-notices ${c.gapNotices} ` +
            `probers ok ${workload.counts.proberOk} failed ${workload.counts.proberFailed} violations ${violations.length}`,
        );
      }
      await sleep(100);
    }
    const stopAt = now();
    workload.stopping = true; // no new requests but the probers'
    while (faults.active > 0) await sleep(100);
    // the probers get their full check after the last fault (healthy for HEALTHY_FOR_S, then
    // STUCK_S unanswered), however late a slow machine ran it
    while (now() < faults.lastEnd + HEALTHY_FOR_S + STUCK_S + 2) await sleep(200);
    const settleUntil = Date.now() + 30_000;
    while (workload.inFlight > 0 && Date.now() < settleUntil) await sleep(100);
    await sleep(5000); // the last deliveries
    ledger.settleAll(stopAt);
    ledger.checkDeadRooms(DEAD_ROOM_S);
    for (const t of timers) clearInterval(t);
    loop.disable();

    const memory = judgeMemory(monitor, faults, durationS, violate);
    const summary = {
      seed,
      durationS,
      opts,
      shape,
      schedule,
      events: faults.events,
      ledger: ledger.counts,
      workload: workload.counts,
      monitor: monitor.counts,
      memory,
      nodes: Object.fromEntries(
        Object.entries({ ...nodes, C: memoryNode }).map(([n, node]) => [
          n,
          { transport: node.transport, starts: node.starts, errorLines: node.errorLines, errorSamples: node.errorSamples },
        ]),
      ),
      harness: {
        cpuMean: mean(monitor.series.get('harness.cpu')),
        cpuMax: max(monitor.series.get('harness.cpu')),
        loopDelayP99Ms: loop.percentile(99) / 1e6,
        rssMax: max(monitor.series.get('harness.rss')),
      },
      violations,
      series: monitor.series,
      buckets: ledger.buckets,
      commit,
    };
    summary.rows = invariantRows(summary);
    const files = opts.report ? await writeReport(summary, opts.reportDir) : [];
    if (process.env.SOAK_DUMP_SERIES) {
      const { writeFileSync } = await import('node:fs');
      writeFileSync(process.env.SOAK_DUMP_SERIES, JSON.stringify(Object.fromEntries(monitor.series)));
    }
    printSummary(summary, log);
    for (const f of files) log(`soak: wrote ${f}`);
    exitCode = violations.length === 0 ? 0 : 1;
    if (exitCode !== 0) log(`soak: FAILED with ${violations.length} violations; replay with --seed ${seed}`);
    else log(`soak: passed (seed ${seed})`);
  } catch (err) {
    log(`soak: aborted: ${err?.stack ?? err} (seed ${seed})`);
    for (const [n, node] of Object.entries(nodes)) log(`--- node ${n} log tail\n${node.tail.join('\n')}`);
    exitCode = 1;
  } finally {
    for (const t of timers) clearInterval(t);
    await workload.close().catch(() => undefined);
    await Promise.all([...Object.values(nodes), memoryNode].map((n) => n.kill().catch(() => undefined)));
    await Promise.all(Object.values(proxies).map((p) => p.close()));
    await redis.close();
  }
  return exitCode;
}

const mean = (s) => (s?.length ? s.reduce((a, p) => a + p.v, 0) / s.length : NaN);
const max = (s) => (s?.length ? Math.max(...s.map((p) => p.v)) : NaN);

/** HEAD, with "+dirty" when tracked files differ from it. */
function gitCommit() {
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { encoding: 'utf8' }).trim() !== '';
    return dirty ? `${head}+dirty` : head;
  } catch {
    return 'unknown';
  }
}

/**
 * Flatness of every memory and fd series after its last reset. Resets: any restart of that
 * process, a worker replaced or the fds filled on purpose (nodes), any restart (Redis).
 */
function judgeMemory(monitor, faults, durationS, violate) {
  const lastReset = (kinds, node) =>
    Math.max(0, ...faults.events.filter((e) => kinds.includes(e.kind) && (node === undefined || e.detail.node === node)).map((e) => e.t1));
  // warm-up after a reset: a node is refilled once its clients are back; Redis once the topics
  // that outlive --history-ttl have come and gone
  const rules = [
    ...['A', 'B'].flatMap((n) => [
      // a restarted node with two workers takes more than a minute to reach its working RSS
      // (V8 heaps, malloc arenas): RSS is judged on a stretch of two minutes at least, so a
      // 90-second run reports it and judges heap + external and fds, which settle at once
      { name: `${n}.rss`, reset: lastReset(RESETS.node, n), warm: 15, absolute: 20 * MiB, relative: 0.1, unit: 'MiB', minSpanS: 120 },
      { name: `${n}.heap_external`, reset: lastReset(RESETS.node, n), warm: 15, absolute: 12 * MiB, relative: 0.25, unit: 'MiB' },
      // every thread's C memory in use (glibc's arenas and large blocks; --malloc-trim gives the
      // free part back): a native leak, or a worker's buffers, shows here when heap + external does not
      {
        name: `${n}.malloc_in_use`,
        reset: lastReset(RESETS.node, n),
        warm: 15,
        absolute: 16 * MiB,
        relative: 0.25,
        unit: 'MiB',
        minSpanS: 120,
      },
      { name: `${n}.fds`, reset: lastReset(RESETS.node, n), warm: 15, absolute: 40, relative: 0.25, unit: 'fds' },
    ]),
    { name: 'C.rss', reset: 0, warm: 15, absolute: 20 * MiB, relative: 0.1, unit: 'MiB' },
    { name: 'C.heap_external', reset: 0, warm: 15, absolute: 12 * MiB, relative: 0.25, unit: 'MiB' },
    {
      name: 'redis.used_memory',
      reset: lastReset(RESETS.redis),
      warm: LIMITS.historyTtlS + 5,
      absolute: 8 * MiB,
      relative: 0.25,
      unit: 'MiB',
    },
  ];
  const out = {};
  for (const r of rules) {
    const from = Math.max(Math.max(15, durationS * 0.1), r.reset + r.warm);
    const verdict = flatness(monitor.series.get(r.name) ?? [], {
      from,
      to: durationS,
      absolute: r.absolute,
      relative: r.relative,
      minSpanS: r.minSpanS ?? 20,
    });
    out[r.name] = { ...verdict, unit: r.unit };
    if (verdict.fail)
      violate('memory_growth', durationS, {
        series: r.name,
        from: +from.toFixed(1),
        levelMiddle: verdict.levelMid,
        levelLate: verdict.levelLate,
        growth: verdict.growth,
        threshold: verdict.threshold,
        slopePerMin: +verdict.slopePerMin.toFixed(0),
        lateSlopePerMin: +verdict.lateSlopePerMin.toFixed(0),
      });
  }
  return out;
}

function printSummary(s, log) {
  log('');
  log(`invariant                         checks      violations`);
  for (const row of invariantRows(s)) log(`${row.name.padEnd(34)}${String(row.checks).padEnd(12)}${row.violations}`);
  log('');
  for (const [name, m] of Object.entries(s.memory)) {
    const k = m.unit === 'MiB' ? MiB : 1;
    const f = (v) => (Number.isFinite(v) ? (v / k).toFixed(m.unit === 'MiB' ? 1 : 0) : 'n/a');
    log(
      `${name.padEnd(20)} ${m.evaluated ? `middle ${f(m.levelMid)} late ${f(m.levelLate)} ${m.unit}, slope ${f(m.slopePerMin)} ${m.unit}/min (late ${f(m.lateSlopePerMin)}), threshold ${f(m.threshold)}${m.fail ? ' FAIL' : ''}` : `not judged: ${m.why}`}`,
    );
  }
  log(
    `harness CPU mean ${(s.harness.cpuMean * 100).toFixed(0)}% max ${(s.harness.cpuMax * 100).toFixed(0)}% of a core, event-loop delay p99 ${s.harness.loopDelayP99Ms.toFixed(0)} ms`,
  );
  if (s.violations.length > 0) {
    log('');
    log(`first violations (of ${s.violations.length}):`);
    for (const v of [...s.violations].sort((a, b) => a.detectedAt - b.detectedAt).slice(0, 10))
      log(`  t=${v.detectedAt}s ${v.kind} ${JSON.stringify(v.detail)}`);
  }
}

/** The summary table: each invariant, how often it was checked, how often it failed. */
export function invariantRows(s) {
  const by = (kinds) => s.violations.filter((v) => kinds.includes(v.kind)).length;
  const l = s.ledger;
  return [
    {
      name: 'delivered once, in order, or told',
      checks: l.obligationsMet + l.obligationsExcused,
      violations: by(['lost', 'gap', 'duplicate', 'order']),
      kinds: 'lost, gap, duplicate, order',
    },
    { name: 'no dead room', checks: l.subscriptions, violations: by(['dead_room']), kinds: 'dead_room' },
    {
      name: 'publishers answered after faults',
      checks: s.monitor.proberChecks,
      violations: by(['stuck_connection', 'fd_no_recovery']),
      kinds: 'stuck_connection, fd_no_recovery',
    },
    {
      name: 'memory and fds flat',
      checks: Object.values(s.memory).filter((m) => m.evaluated).length,
      violations: by(['memory_growth']),
      kinds: 'memory_growth',
    },
    {
      name: "Redis within the nodes' bounds",
      checks: s.monitor.redisBoundChecks,
      violations: by(['redis_over_bound']),
      kinds: 'redis_over_bound',
    },
    {
      name: '/healthz agrees, no unplanned exit',
      checks: s.monitor.healthzChecked,
      violations: by([
        'healthz_green_while_redis_down',
        'healthz_red_while_up',
        'worker_not_replaced',
        'node_unresponsive',
        'unexpected_exit',
        'drain_failed',
        'fault_failed',
      ]),
      kinds:
        'healthz_green_while_redis_down, healthz_red_while_up, worker_not_replaced, node_unresponsive, unexpected_exit, drain_failed, fault_failed',
    },
  ];
}

main().then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`soak: ${err?.stack ?? err}\n`);
    process.exit(1);
  },
);
