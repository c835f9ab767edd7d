// One measured run of the broker benchmark: a fresh redis-server (when the setup uses one), one
// or two server processes, the generator with subscribers on the last node and publishers on the
// first, and over the generator's measured window: each node's CPU, Redis's CPU and command
// counts (INFO cpu, INFO commandstats), and the generator's own figures.
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { INSTRUMENT_LIMIT_PCT, LOADGEN_CPU, SERVER_CPU } from './config.mjs';
import { runLoadgen } from './loadgen.mjs';
import { loadgenTimeoutMs, timedOptions } from './runs.mjs';
import { coreMeter, cpuMeter } from './proc.mjs';
import { RedisServer } from './redis.mjs';
import { startServer } from './server.mjs';

/** Commands that run a script: the calls a publish costs in round trips, when it uses one. */
const SCRIPT_CALLS = new Set(['evalsha', 'eval', 'evalsha_ro', 'eval_ro', 'fcall', 'fcall_ro']);

/** Commands the benchmark itself sends (INFO) or a client sends once per connection. */
const NOT_PER_PUBLISH = new Set(['info', 'ping', 'client|setname', 'hello', 'select']);

/** Redis's counters at one instant: commands by name and CPU seconds. */
async function redisSample(redis) {
  const [commands, cpuSeconds] = await Promise.all([redis.commandStats(), redis.cpuSeconds()]);
  return { commands, cpuSeconds, at: process.hrtime.bigint() };
}

/** Calls per command between two samples, without the benchmark's own INFO calls. */
function commandDelta(before, after) {
  const out = {};
  for (const [name, { calls }] of Object.entries(after.commands)) {
    const d = calls - (before.commands[name]?.calls ?? 0);
    if (d > 0 && !NOT_PER_PUBLISH.has(name)) out[name] = d;
  }
  return out;
}

function pinToServerCpu(pid) {
  // -a: every thread (redis-server has background I/O threads).
  execFileSync('taskset', ['-a', '-pc', String(SERVER_CPU), String(pid)], { stdio: 'ignore' });
}

export async function runBroker(setup, scenario, timing, ctx, label) {
  let redis;
  const nodes = [];
  try {
    if (setup.redis) {
      redis = await RedisServer.start();
      pinToServerCpu(redis.pid);
    }
    const roles = setup.nodes === 2 ? ['A', 'B'] : ['single'];
    for (const role of roles) {
      const started = await startServer({ ...setup, broker: redis?.url }, ctx.tools, path.join(ctx.logDir, `${label}.${role}.log`));
      if (started.unavailable) return { ok: false, unavailable: true, error: `node ${role}: ${started.unavailable}` };
      nodes.push({ role, ...started });
    }
    const publishOn = nodes[0];
    const subscribeOn = nodes[nodes.length - 1];
    const meters = nodes.map((n) => cpuMeter(n.pid));
    const cores = [coreMeter(SERVER_CPU), coreMeter(LOADGEN_CPU)];
    let redisBefore, redisAfter, nodeCpu, coreUse;
    const options = {
      ...timedOptions(scenario, timing),
      ...(publishOn !== subscribeOn ? { publishUrl: `ws://127.0.0.1:${publishOn.port}/ws` } : {}),
    };
    const s = await runLoadgen(`ws://127.0.0.1:${subscribeOn.port}/ws`, options, {
      hooks: {
        measure: () => {
          meters.forEach((m) => m.start());
          cores.forEach((c) => c.start());
          if (redis) redisBefore = redisSample(redis);
        },
        drain: () => {
          nodeCpu = meters.map((m) => m.stop());
          coreUse = cores.map((c) => c.stop());
          if (redis) redisAfter = redisSample(redis);
        },
      },
      logFile: path.join(ctx.logDir, `${label}.loadgen.log`),
      timeoutMs: loadgenTimeoutMs(timing.warmup + timing.duration),
    });
    if (!s.ok) return { ok: false, error: s.error, summary: s };
    return summarizeRun(scenario, s, nodes, nodeCpu, coreUse, redis && (await redisBefore), redis && (await redisAfter));
  } finally {
    for (const n of nodes) await n.stop();
    await redis?.close();
  }
}

function summarizeRun(scenario, s, nodes, nodeCpu, coreUse, redisBefore, redisAfter) {
  const wall = nodeCpu[0].wallSeconds;
  const serverCpuSeconds = nodeCpu.reduce((t, c) => t + c.cpuSeconds, 0);
  const redisCpuSeconds = redisAfter ? redisAfter.cpuSeconds - redisBefore.cpuSeconds : 0;
  const commands = redisAfter ? commandDelta(redisBefore, redisAfter) : null;
  const commandsTotal = commands ? Object.values(commands).reduce((a, b) => a + b, 0) : NaN;
  const scripts = commands
    ? Object.entries(commands)
        .filter(([k]) => SCRIPT_CALLS.has(k))
        .reduce((a, [, v]) => a + v, 0)
    : NaN;
  const serverSideCpu = serverCpuSeconds + redisCpuSeconds;
  const ownPct = nodeCpu.reduce((t, c) => t + c.busyPct, 0) + (100 * redisCpuSeconds) / wall;
  const serverCorePct = coreUse[0].taskPct + coreUse[0].irqPct;
  return {
    ok: true,
    deliveriesPerS: s.deliveries_per_s,
    // Deliveries per CPU second of everything on the server side (nodes + Redis): "per core".
    deliveriesPerCpuS: serverSideCpu > 0 ? s.deliveries / serverSideCpu : NaN,
    // The same per busy second of the server core, whoever was charged: loopback TCP work in
    // softirq that the processes' own counters miss is in it, and so is any other load on CPU 0.
    deliveriesPerCoreS: serverCorePct > 0 ? s.deliveries_per_s / (serverCorePct / 100) : NaN,
    publishesPerS: s.publishes_per_s,
    latencyUs: s.latency_us,
    nodes: nodes.map((n, i) => ({ role: n.role, cpuSeconds: nodeCpu[i].cpuSeconds, busyPct: nodeCpu[i].busyPct })),
    serverCpuSeconds,
    redisCpuSeconds,
    redisBusyPct: (100 * redisCpuSeconds) / wall,
    redisCommandsPerPublish: s.publishes ? commandsTotal / s.publishes : NaN,
    redisScriptsPerPublish: s.publishes ? scripts / s.publishes : NaN,
    redisCommands: commands && Object.fromEntries(Object.entries(commands).map(([k, v]) => [k, s.publishes ? v / s.publishes : NaN])),
    loadgenBusyPct: s.loadgen_busy_pct,
    limitedByInstrument: s.loadgen_busy_pct > INSTRUMENT_LIMIT_PCT,
    // the server core beyond the server side's own processes, plus the generator's core beyond it
    otherLoadPct:
      Math.max(0, coreUse[0].taskPct + coreUse[0].irqPct - ownPct) +
      Math.max(0, coreUse[1].taskPct + coreUse[1].irqPct - s.loadgen_busy_pct),
    serverCorePct,
    keptUp: scenario.targetDeliveries ? s.deliveries_per_s >= 0.95 * scenario.targetDeliveries : null,
    lost: s.lost,
    duplicated: s.duplicated,
    reordered: s.reordered,
    drainComplete: s.drain_complete,
    summary: s,
  };
}
