// One measured run of each scenario kind against one freshly started server.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { FD_MARGIN, INSTRUMENT_LIMIT_PCT, placement } from './config.mjs';
import { runLoadgen } from './loadgen.mjs';
import { coreMeter, cpuMeter, cpuSeconds, rssBytes } from './proc.mjs';
import { startServer } from './server.mjs';
import { PEERS } from './setup.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Phase bounds handed to the generator, seconds.
const CONNECT_TIMEOUT = 30;
const SUBSCRIBE_TIMEOUT = 15;
const DRAIN_TIMEOUT = 5;

/** The generator's options for a timed scenario run: its own, the window, the phase bounds. */
export function timedOptions(scenario, timing) {
  return {
    ...scenario.loadgen,
    warmup: timing.warmup,
    duration: timing.duration,
    connectTimeout: CONNECT_TIMEOUT,
    subscribeTimeout: SUBSCRIBE_TIMEOUT,
    drainTimeout: DRAIN_TIMEOUT,
  };
}

export function loadgenTimeoutMs(seconds) {
  return (CONNECT_TIMEOUT + SUBSCRIBE_TIMEOUT + DRAIN_TIMEOUT + seconds + 30) * 1000;
}

/** Starts the server, runs body(server), always stops it; unavailable servers pass through. */
async function withServer(server, ctx, label, body, deflate = false) {
  const started = await startServer(server, ctx.tools, path.join(ctx.logDir, `${label}.server.log`), deflate);
  if (started.unavailable) return { ok: false, unavailable: true, error: started.unavailable };
  try {
    return await body(started);
  } finally {
    await started.stop();
  }
}

/**
 * The cores of a run and who is charged on them: the server's cores, then the generator's that
 * are not the server's. A generator that shares the server's cores is charged on those.
 */
function coreGroups(server) {
  const pin = placement(server);
  const own = pin.loadgen.filter((c) => !pin.server.includes(c));
  const shared = own.length < pin.loadgen.length;
  return [
    { cpus: pin.server, server: true, loadgen: shared },
    { cpus: own, server: false, loadgen: !shared },
  ].filter((g) => g.cpus.length > 0);
}

/** Meters every core of the groups; stop() gives per group the summed % (of one core) of each. */
function groupMeter(groups) {
  const meters = groups.map((g) => g.cpus.map((c) => coreMeter(c)));
  return {
    start: () => meters.flat().forEach((m) => m.start()),
    stop: () =>
      meters.map((ms, i) => {
        const use = ms.map((m) => m.stop());
        const sum = (k) => use.reduce((n, u) => n + u[k], 0);
        return { ...groups[i], taskPct: sum('taskPct'), irqPct: sum('irqPct'), stealPct: sum('stealPct') };
      }),
  };
}

/**
 * Other processes on the run's cores in the window, in % of a core: busy time on each group of
 * cores beyond what the server and the generator charged there. Ticks spent in softirq count as
 * softirq in /proc/stat but also in the interrupted task's stime.
 */
function otherLoad(use, serverPct, loadgenPct) {
  return use.reduce((n, g) => n + Math.max(0, g.taskPct + g.irqPct - (g.server ? serverPct : 0) - (g.loadgen ? loadgenPct : 0)), 0);
}

export function runFanout(server, scenario, timing, ctx, label) {
  return withServer(
    server,
    ctx,
    label,
    async (srv) => {
      const meter = cpuMeter(srv.pid);
      // The main thread alone: with --workers it is the acceptor and the sequencer.
      const mainMeter = cpuMeter(srv.pid, srv.pid);
      const cores = groupMeter(coreGroups(server));
      let serverCpu = null;
      let mainCpu = null;
      let coreUse = null;
      const options = timedOptions(scenario, timing);
      const s = await runLoadgen(`ws://127.0.0.1:${srv.port}/ws`, options, {
        hooks: {
          measure: () => {
            meter.start();
            mainMeter.start();
            cores.start();
          },
          drain: () => {
            serverCpu = meter.stop();
            mainCpu = mainMeter.stop();
            coreUse = cores.stop();
          },
        },
        logFile: path.join(ctx.logDir, `${label}.loadgen.log`),
        timeoutMs: loadgenTimeoutMs(timing.warmup + timing.duration),
        cpus: placement(server).loadgen,
      });
      if (!s.ok) return { ok: false, error: s.error, summary: s };
      const keptUp = scenario.targetDeliveries ? s.deliveries_per_s >= 0.95 * scenario.targetDeliveries : null;
      return {
        ok: true,
        deliveriesPerS: s.deliveries_per_s,
        cpuUsPerDelivery: serverCpu && s.deliveries ? (serverCpu.cpuSeconds * 1e6) / s.deliveries : NaN,
        serverBusyPct: serverCpu?.busyPct ?? NaN,
        mainThreadBusyPct: mainCpu?.busyPct ?? NaN,
        mainThreadCpuUsPerPublish: mainCpu && s.publishes ? (mainCpu.cpuSeconds * 1e6) / s.publishes : NaN,
        loadgenBusyPct: s.loadgen_busy_pct,
        otherLoadPct: coreUse ? otherLoad(coreUse, serverCpu.busyPct, s.loadgen_busy_pct) : NaN,
        irqPct: coreUse ? coreUse.reduce((n, g) => n + g.irqPct, 0) : NaN,
        stealPct: coreUse ? coreUse.reduce((n, g) => n + g.stealPct, 0) : NaN,
        limitedByInstrument: s.loadgen_busy_pct > INSTRUMENT_LIMIT_PCT,
        keptUp,
        latencyUs: s.latency_us,
        // bytes the generator read per delivery (whole run: handshakes and acks are noise at 1k
        // subscribers), and how many messages came compressed
        wireBytesPerDelivery: s.deliveries_total ? s.bytes_in / s.deliveries_total : NaN,
        compressedMessages: s.compressed_messages ?? 0,
        lost: s.lost,
        duplicated: s.duplicated,
        reordered: s.reordered,
        drainComplete: s.drain_complete,
        summary: s,
      };
    },
    scenario.loadgen.deflate === 'on',
  );
}

export function idleCount(scenario, nofile) {
  return scenario.connections === 'max' ? (nofile ?? 20000) - FD_MARGIN : scenario.connections;
}

export function runIdle(server, scenario, ctx, label) {
  const connections = idleCount(scenario, ctx.machine.nofile);
  return withServer(server, ctx, label, async (srv) => {
    await sleep(1000); // let the server finish starting up before the baseline
    const rssBefore = rssBytes(srv.pid);
    let rssAfter = NaN;
    let sampled;
    const s = await runLoadgen(
      `ws://127.0.0.1:${srv.port}/ws`,
      { mode: 'idle', subscribers: connections, hold: scenario.hold, connectTimeout: CONNECT_TIMEOUT, subscribeTimeout: SUBSCRIBE_TIMEOUT },
      {
        // Sample near the end of the hold, once the server's allocations have settled.
        hooks: { hold: () => (sampled = sleep((scenario.hold - 1) * 1000).then(() => (rssAfter = rssBytes(srv.pid)))) },
        logFile: path.join(ctx.logDir, `${label}.loadgen.log`),
        timeoutMs: loadgenTimeoutMs(scenario.hold),
      },
    );
    await sampled;
    if (!s.ok) return { ok: false, error: s.error, summary: s };
    const held = s.held;
    return {
      ok: true,
      attempted: connections,
      held,
      rssBefore,
      rssAfter,
      bytesPerConnection: held ? (rssAfter - rssBefore) / held : NaN,
      failed: s.connections_failed,
      firstFailure: s.first_failure,
      summary: s,
    };
  });
}

function runAutocannon(port, scenario, duration, logDir, label, cpus) {
  const body = JSON.stringify({ topic: 'http-bench', data: { p: 'x'.repeat(Math.max(0, scenario.size - 8)) } });
  const argv = [
    '-c',
    cpus.join(','),
    'node',
    path.join(PEERS, 'node_modules', 'autocannon', 'autocannon.js'),
    '-c',
    String(scenario.connections),
    '-d',
    String(duration),
    '-m',
    'POST',
    '-H',
    'content-type=application/json',
    '-b',
    body,
    '-j',
    `http://127.0.0.1:${port}/publish`,
  ];
  return new Promise((resolve) => {
    const child = spawn('taskset', argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let cpu = 0;
    const t0 = Date.now();
    // autocannon's own CPU: sampled while it runs, since /proc forgets it at exit.
    const poll = setInterval(() => {
      try {
        cpu = cpuSeconds(child.pid);
      } catch {
        /* exited */
      }
    }, 250);
    child.stdout.on('data', (d) => (out += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), (duration + 30) * 1000);
    child.once('exit', () => {
      clearInterval(poll);
      clearTimeout(timer);
      const wall = (Date.now() - t0) / 1000;
      try {
        resolve({ result: JSON.parse(out), busyPct: (100 * cpu) / wall });
      } catch {
        resolve({ error: `autocannon printed no JSON (see ${logDir}/${label})` });
      }
    });
  });
}

export function runHttp(server, scenario, timing, ctx, label) {
  return withServer(server, ctx, label, async (srv) => {
    const meter = cpuMeter(srv.pid);
    const cores = groupMeter(coreGroups(server));
    meter.start();
    cores.start();
    const r = await runAutocannon(srv.port, scenario, timing.httpDuration, ctx.logDir, label, placement(server).loadgen);
    const cpu = meter.stop();
    const coreUse = cores.stop();
    if (r.error) return { ok: false, error: r.error };
    const a = r.result;
    const ok2xx = a['2xx'] ?? a.requests.total - (a.non2xx ?? 0);
    return {
      ok: a.errors === 0 && (a.non2xx ?? 0) === 0,
      error: a.errors || a.non2xx ? `${a.errors} errors, ${a.non2xx} non-2xx responses` : undefined,
      requestsPerS: ok2xx / a.duration,
      latencyMs: { p50: a.latency.p50, p90: a.latency.p90, p99: a.latency.p99, max: a.latency.max },
      cpuUsPerRequest: ok2xx ? (cpu.cpuSeconds * 1e6) / ok2xx : NaN,
      serverBusyPct: cpu.busyPct,
      loadgenBusyPct: r.busyPct,
      otherLoadPct: otherLoad(coreUse, cpu.busyPct, r.busyPct),
      limitedByInstrument: r.busyPct > INSTRUMENT_LIMIT_PCT,
    };
  });
}
