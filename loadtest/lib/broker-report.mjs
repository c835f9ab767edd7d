// The broker benchmark's Markdown report: machine and versions, the goals (the Redis hop under
// 1 ms at p50, 5x the peer's deliveries per core) as ratios, and per scenario a table of every
// setup (medians over the repeats, with spread).
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { INSTRUMENT_LIMIT_PCT } from './config.mjs';
import { cellCounts, outcome, runsByCell } from './report.mjs';
import { LOADTEST } from './setup.mjs';
import { median, summarize } from './stats.mjs';
import { fmt } from './svg.mjs';

const PEER = 'ws-redis';
const withSpread = (s, f = fmt) => (Number.isFinite(s.median) ? `${f(s.median)} ±${s.spreadPct.toFixed(0)}%` : 'n/a');
const ratio = (a, b) => (Number.isFinite(a) && Number.isFinite(b) && b > 0 ? `${(a / b).toFixed(2)}x` : '–');
const ms = (us) => (Number.isFinite(us) ? (us / 1000).toFixed(2) : 'n/a');
const pct = (v) => (Number.isFinite(v) ? v.toFixed(0) : 'n/a');

/** Per scenario and setup: the runs and their medians. */
export function aggregate(all) {
  const cells = runsByCell(all.runs, 'setup');
  const out = new Map();
  for (const [key, runs] of cells) {
    const ok = runs.filter((r) => r.ok);
    const m = (f) => summarize(ok.map(f));
    const commandNames = [...new Set(ok.flatMap((r) => Object.keys(r.redisCommands ?? {})))].sort();
    out.set(key, {
      ...cellCounts(runs),
      deliveries: m((r) => r.deliveriesPerS),
      perCpu: m((r) => r.deliveriesPerCpuS),
      perCore: m((r) => r.deliveriesPerCoreS),
      p50: m((r) => r.latencyUs?.p50),
      p99: m((r) => r.latencyUs?.p99),
      p999: m((r) => r.latencyUs?.p999),
      commandsPerPublish: m((r) => r.redisCommandsPerPublish),
      scriptsPerPublish: m((r) => r.redisScriptsPerPublish),
      commandBreakdown: commandNames.map((n) => `${n} ${median(ok.map((r) => r.redisCommands?.[n] ?? 0)).toFixed(2)}`).join(', '),
      redisBusy: m((r) => r.redisBusyPct),
      nodeBusy: (ok[0]?.nodes ?? []).map((n, i) => ({ role: n.role, busy: m((r) => r.nodes[i].busyPct) })),
      serverCore: m((r) => r.serverCorePct),
      loadgenBusy: m((r) => r.loadgenBusyPct),
      otherLoad: m((r) => r.otherLoadPct),
      ...outcome(ok),
    });
  }
  return out;
}

function flags(c) {
  const f = [];
  if (c.limited) f.push('**limited by the instrument**');
  if (c.behind) f.push('did not keep up with the rate');
  if (c.undrained) f.push('drain timed out (backlog)');
  if (c.ok < c.total && !c.unavailable) f.push(`${c.total - c.ok}/${c.total} runs failed: ${c.failure}`);
  return f.join('; ');
}

function table(scenario, setups, cells) {
  const peer = cells.get(`${scenario.id}|${PEER}`);
  const rows = [
    '| setup | deliveries/s | per process CPU s | vs ws-redis | per server-core s | vs ws-redis | p50 ms | p99 ms | p99.9 ms | Redis commands / publish | Redis CPU % | node CPU % | server core % | loadgen CPU % | other load % | lost/dup/reord | flags |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  const notes = [];
  for (const setup of setups) {
    const c = cells.get(`${scenario.id}|${setup}`);
    if (!c) continue;
    if (c.ok === 0) {
      rows.push(`| ${setup} | ${c.unavailable ? `unavailable: ${c.unavailable.slice(0, 200)}` : `failed: ${c.failure}`} ||||||||||||||||`);
      continue;
    }
    const nodes = c.nodeBusy.map((n) => `${n.role} ${pct(n.busy.median)}`).join(' / ');
    rows.push(
      `| ${[
        setup,
        withSpread(c.deliveries),
        withSpread(c.perCpu),
        ratio(c.perCpu.median, peer?.perCpu.median),
        withSpread(c.perCore),
        ratio(c.perCore.median, peer?.perCore.median),
        ms(c.p50.median),
        ms(c.p99.median),
        ms(c.p999.median),
        Number.isFinite(c.commandsPerPublish.median)
          ? `${c.commandsPerPublish.median.toFixed(2)}${c.scriptsPerPublish.median > 0 ? ` (${c.scriptsPerPublish.median.toFixed(2)} script calls)` : ''}`
          : '– (no Redis)',
        Number.isFinite(c.commandsPerPublish.median) ? pct(c.redisBusy.median) : '–',
        nodes,
        pct(c.serverCore.median),
        pct(c.loadgenBusy.median),
        pct(c.otherLoad.median),
        c.undrained ? `n/a/${c.duplicated}/${c.reordered}` : `${c.lost}/${c.duplicated}/${c.reordered}`,
        flags(c),
      ].join(' | ')} |`,
    );
    if (c.commandBreakdown) notes.push(`- ${setup}: ${c.commandBreakdown}`);
  }
  const breakdown = notes.length
    ? `\n\nRedis commands per publish, by command (INFO commandstats over the window; commands a script runs are counted too):\n${notes.join('\n')}`
    : '';
  return rows.join('\n') + breakdown;
}

/** The Redis hop's added p50 and the deliveries per core against the peer, each beside its goal. */
export function goals(all, cells) {
  const get = (scenario, setup) => {
    const c = cells.get(`${scenario}|${setup}`);
    return c && c.ok > 0 ? c : null;
  };
  const lines = [];
  // Each ringcast transport against itself: the Redis hop's cost, then against the peer.
  for (const suffix of ['', '-ws']) {
    const single = get('latency-1k-pubs', `ringcast-single${suffix}`);
    const cross = get('latency-1k-pubs', `ringcast-redis${suffix}`);
    if (single && cross) {
      const added = cross.p50.median - single.p50.median;
      lines.push(
        `- ringcast-redis${suffix} p50 at 1k publishes/s: ${ms(cross.p50.median)} ms against ${ms(single.p50.median)} ms on one node: ` +
          `the Redis hop adds ${ms(added)} ms (goal < 1 ms: ${added < 1000 ? 'met' : '**not met**'}); p99 ${ms(cross.p99.median)} against ${ms(single.p99.median)} ms` +
          // A slow single-node path hides the hop: then the comparison says little.
          (single.p50.median > 1000
            ? `; **the single-node p50 is itself ${ms(single.p50.median)} ms**, so this transport's own latency at this rate hides the hop.`
            : '.'),
      );
    } else if (cells.has(`latency-1k-pubs|ringcast-redis${suffix}`)) {
      lines.push(
        `- ringcast-redis${suffix} latency: not measured (${cells.get(`latency-1k-pubs|ringcast-redis${suffix}`).unavailable ?? cells.get(`latency-1k-pubs|ringcast-redis${suffix}`).failure ?? 'no single-node run'}).`,
      );
    }
  }
  for (const id of ['fanout-1k-64B', 'latency-1k-pubs']) {
    for (const setup of ['ringcast-redis', 'ringcast-redis-ws']) {
      const mine = get(id, setup);
      const peer = get(id, PEER);
      if (!mine || !peer) continue;
      // The goal is judged on the lower of the two per-core ratios.
      const byCore = mine.perCore.median / peer.perCore.median;
      const byProcess = mine.perCpu.median / peer.perCpu.median;
      const r = Math.min(byCore, byProcess);
      const goal = id === 'fanout-1k-64B' ? `goal >= 5x: ${r >= 5 ? 'met' : '**not met**'}` : 'at a fixed rate: efficiency, not capacity';
      lines.push(
        `- ${id}: ${setup} delivers ${fmt(mine.perCore.median)} per busy second of the server core, ws-redis ${fmt(peer.perCore.median)}: ` +
          `**${byCore.toFixed(2)}x** (per process CPU second: ${byProcess.toFixed(2)}x; ${goal}); ` +
          `deliveries/s ${fmt(mine.deliveries.median)} against ${fmt(peer.deliveries.median)} (${ratio(mine.deliveries.median, peer.deliveries.median)}).`,
      );
    }
  }
  return lines.join('\n');
}

function instrumentCheck(all) {
  const ok = all.runs.filter((r) => r.ok);
  if (ok.length === 0) return 'No measured runs.';
  const busiest = ok.reduce((a, b) => (b.loadgenBusyPct > a.loadgenBusyPct ? b : a));
  const limited = ok.filter((r) => r.limitedByInstrument);
  const other = median(ok.map((r) => r.otherLoadPct));
  return (
    `The generator's busiest run used ${busiest.loadgenBusyPct.toFixed(0)}% of its core (${busiest.scenario} on ${busiest.setup}); ` +
    `${limited.length} of ${ok.length} runs were above ${INSTRUMENT_LIMIT_PCT}%` +
    (limited.length
      ? ` (${[...new Set(limited.map((r) => `${r.scenario} on ${r.setup}`))].join(', ')}): their deliveries/s are lower bounds.`
      : '.') +
    ` Other load on the two cores during the windows: median ${pct(other)}% of a core` +
    (other > 10 ? ' — the machine was shared; absolute figures are low, ratios within a run fairer.' : '.')
  );
}

function header(all) {
  const m = all.machine;
  return [
    `# ringcast broker benchmark, ${m.date.slice(0, 10)}, commit ${m.commit}${m.dirty ? ' (with uncommitted changes)' : ''}`,
    '',
    '| | |',
    '|---|---|',
    `| machine | ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB |`,
    `| kernel | ${m.kernel} |`,
    `| Node | ${m.node} |`,
    `| redis-server | ${m.redis} |`,
    `| ioredis | ${m.ioredis} (ringcast and the peer) |`,
    `| ws | ${m.ws} |`,
    `| ringcast | ${m.ringcast} at ${m.commit}, \`node ${m.ringcastNodeFlags.join(' ')} dist/server/cli.js\`; ${m.uring}; the -ws setups force --transport ws |`,
    `| runs | ${all.timing.repeats} per scenario and setup${all.name.includes('+') ? ` (pooled from ${all.name.split('+').length} invocations: ${all.name.split('+').join(', ')})` : ''}; warmup ${all.timing.warmup} s, measured ${all.timing.duration} s |`,
    '',
    'Setups: **ringcast-single**: one ringcast node, memory broker, publishers and subscribers on it. ',
    '**ringcast-redis**: two ringcast nodes with `--broker redis://...`, publishers on node A, subscribers on node B ',
    "(the generator's `--publish-url`), every message through Redis. The **-ws** variants are the same on ringcast's ws ",
    'transport, the others on `--transport auto`. **ws-redis**: loadtest/peers/ws-redis.mjs, what a Node ',
    'user writes instead (ws + ioredis pub/sub, one PUBLISH per message), two processes split the same way. ',
    'Each run starts a fresh redis-server (no persistence) and fresh servers. Every server-side process — the node(s) and ',
    'redis-server — is pinned to CPU 0, the generator to CPU 1, so the server side has one core however many processes it runs. ',
    'Per core, two ways: "per process CPU s" divides deliveries by the CPU seconds charged to the nodes (/proc) plus Redis ',
    '(INFO cpu) in the window; "per server-core s" divides deliveries/s by the busy fraction of CPU 0 (/proc/stat, task + irq), ',
    "which also holds loopback TCP work done in softirq that the processes' counters miss (compare node CPU % with server core %) and any ",
    "other process that ran on CPU 0. The goal is judged on the lower ratio. Latency is the generator's: from the publish's scheduled send to the read that returned the delivery, ",
    'one clock. Redis commands per publish are INFO commandstats deltas over the window divided by publishes (INFO itself left out). ',
    '"server core %" is all time spent on CPU 0 (100 = saturated). Medians over the runs; ±% is (max − min) / median.',
  ].join('\n');
}

export function writeReport(all) {
  const cells = aggregate(all);
  const sections = [
    header(all),
    `## Against the goals: the Redis hop under 1 ms at p50, 5x the peer per core\n\n${goals(all, cells)}`,
    `## Is the generator the bottleneck?\n\n${instrumentCheck(all)}`,
  ];
  for (const s of all.scenarios) {
    const loadgen = Object.entries(s.loadgen)
      .map(([k, v]) => `--${k} ${v}`)
      .join(' ');
    sections.push(`## ${s.title}\n\nGenerator: \`${loadgen}\`\n\n${table(s, all.setups, cells)}`);
  }
  const file = path.join(LOADTEST, 'reports', `${all.machine.date.slice(0, 10)}-${all.machine.commit}-broker.md`);
  writeFileSync(file, `${sections.join('\n\n')}\n`);
  return file;
}
