// The Markdown report: machine and versions, a table of medians with spread and ratios to ws
// and to Bun per scenario, flags, and the SVG plots beside it.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { INSTRUMENT_LIMIT_PCT } from './config.mjs';
import { LOADTEST } from './setup.mjs';
import { summarize } from './stats.mjs';
import { barPanels, fmt, latencyChart } from './svg.mjs';

const PERCENTILES = [
  ['p50', 'p50'],
  ['p90', 'p90'],
  ['p99', 'p99'],
  ['p999', 'p99.9'],
  ['max', 'max'],
];

/** Per scenario and server: the runs and the summarized metrics. */
/** The runs of each cell: scenario and the run's `column` (server or setup), keyed `scenario|column`. */
export function runsByCell(runs, column) {
  const table = new Map();
  for (const run of runs) {
    const key = `${run.scenario}|${run[column]}`;
    if (!table.has(key)) table.set(key, []);
    table.get(key).push(run);
  }
  return table;
}

/** What every report says of a cell: its runs, how many succeeded, and why one could not start or failed. */
export function cellCounts(runs) {
  return {
    runs,
    ok: runs.filter((r) => r.ok).length,
    total: runs.length,
    unavailable: runs.find((r) => r.unavailable)?.error,
    failure: runs.find((r) => !r.ok && !r.unavailable)?.error,
  };
}

function aggregate(all) {
  const table = runsByCell(all.runs, 'server');
  const metric = (runs, f) => summarize(runs.filter((r) => r.ok).map(f));
  const cells = new Map();
  for (const [key, runs] of table) {
    const ok = runs.filter((r) => r.ok);
    cells.set(key, {
      ...cellCounts(runs),
      deliveries: metric(runs, (r) => r.deliveriesPerS),
      cpu: metric(runs, (r) => r.cpuUsPerDelivery),
      wire: metric(runs, (r) => r.wireBytesPerDelivery),
      compressed: ok.reduce((n, r) => n + (r.compressedMessages ?? 0), 0),
      serverBusy: metric(runs, (r) => r.serverBusyPct),
      loadgenBusy: metric(runs, (r) => r.loadgenBusyPct),
      otherLoad: metric(runs, (r) => r.otherLoadPct),
      latency: Object.fromEntries(PERCENTILES.map(([k]) => [k, metric(runs, (r) => r.latencyUs?.[k])])),
      ...outcome(ok),
      undelivered: ok.filter((r) => r.drainComplete === false).reduce((n, r) => n + (r.lost ?? 0), 0),
      held: metric(runs, (r) => r.held),
      bytesPerConn: metric(runs, (r) => r.bytesPerConnection),
      requests: metric(runs, (r) => r.requestsPerS),
      httpP50: metric(runs, (r) => r.latencyMs?.p50),
      httpP99: metric(runs, (r) => r.latencyMs?.p99),
      cpuPerRequest: metric(runs, (r) => r.cpuUsPerRequest),
    });
  }
  return cells;
}

const withSpread = (s, f = fmt) => (Number.isFinite(s.median) ? `${f(s.median)} ±${s.spreadPct.toFixed(0)}%` : 'n/a');
const ratio = (a, b) => (Number.isFinite(a) && Number.isFinite(b) && b > 0 ? `${(a / b).toFixed(2)}x` : '–');
const ms = (us) => (Number.isFinite(us) ? (us / 1000).toFixed(2) : 'n/a');

function flags(c) {
  const f = [];
  if (c.limited) f.push('**limited by the instrument**');
  if (c.behind) f.push('did not keep up with the rate');
  if (c.undrained) f.push(`drain timed out with ${c.undelivered} deliveries outstanding (backlog, so loss cannot be told)`);
  if (c.ok < c.total && !c.unavailable) f.push(`${c.total - c.ok}/${c.total} runs failed: ${c.failure}`);
  return f.join('; ');
}

/**
 * What set the pace of a run: the server, the generator, or the rate we asked for. `cores`: the
 * CPUs the server was pinned to (ringcast with --workers), whose busy % adds up to 100 each.
 */
function boundBy(c, scenario, cores = 1) {
  if (c.limited) return 'generator';
  if (scenario.loadgen.mode === 'open') return c.behind ? 'server (fell behind)' : 'rate (as set)';
  if (c.serverBusy.median >= 90 * cores) return 'server';
  return c.otherLoad.median > 10 ? 'neither: other load on the cores' : 'neither: window too small';
}

/** CPUs a server ran on: those of --workers for ringcast when the run set it, else one. */
const serverCores = (all, server) => (all.workers && server.startsWith('ringcast') ? all.workers.cpus.length : 1);

function fanoutTable(scenario, servers, cells, coresOf = () => 1) {
  const ref = (name, k) => cells.get(`${scenario.id}|${name}`)?.[k]?.median;
  const rows = [
    '| server | deliveries/s | vs ws | vs Bun | CPU us/delivery | vs ws | vs Bun | p50 ms | p99 ms | p99.9 ms | lost/dup/reord | server CPU % | loadgen CPU % | other load % | bound by | flags |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const server of servers) {
    const c = cells.get(`${scenario.id}|${server}`);
    if (!c) continue;
    if (c.unavailable || c.ok === 0) {
      rows.push(`| ${server} | ${c.unavailable ? `unavailable: ${c.unavailable.slice(0, 160)}` : `failed: ${c.failure}`} |||||||||||||||`);
      continue;
    }
    rows.push(
      [
        server,
        withSpread(c.deliveries),
        ratio(c.deliveries.median, ref('ws', 'deliveries')),
        ratio(c.deliveries.median, ref('bun', 'deliveries')),
        withSpread(c.cpu, (v) => v.toFixed(3)),
        ratio(c.cpu.median, ref('ws', 'cpu')),
        ratio(c.cpu.median, ref('bun', 'cpu')),
        ms(c.latency.p50.median),
        ms(c.latency.p99.median),
        ms(c.latency.p999.median),
        c.undrained ? `n/a/${c.duplicated}/${c.reordered}` : `${c.lost}/${c.duplicated}/${c.reordered}`,
        c.serverBusy.median.toFixed(0),
        c.loadgenBusy.median.toFixed(0),
        Number.isFinite(c.otherLoad.median) ? c.otherLoad.median.toFixed(0) : 'n/a',
        boundBy(c, scenario, coresOf(server)),
        flags(c),
      ]
        .join(' | ')
        .replace(/^/, '| ')
        .concat(' |'),
    );
  }
  return rows.join('\n');
}

/** Each server with permessage-deflate against itself without, on the same chat JSON. */
function deflateTable(servers, cells) {
  const rows = [
    '| server | CPU us/delivery plain | CPU us/delivery deflate | deflate / plain | wire B/delivery plain | wire B/delivery deflate | deflate / plain | messages that came compressed |',
    '|---|---|---|---|---|---|---|---|',
  ];
  for (const server of servers) {
    const p = cells.get(`chat-1k-16KiB-plain|${server}`);
    const d = cells.get(`chat-1k-16KiB-deflate|${server}`);
    if (!p || !d || p.ok === 0 || d.ok === 0) {
      rows.push(`| ${server} | n/a ||||||| `);
      continue;
    }
    rows.push(
      `| ${server} | ${withSpread(p.cpu, (v) => v.toFixed(3))} | ${withSpread(d.cpu, (v) => v.toFixed(3))} | ${ratio(d.cpu.median, p.cpu.median)} | ` +
        `${fmt(Math.round(p.wire.median))} | ${fmt(Math.round(d.wire.median))} | ${ratio(d.wire.median, p.wire.median)} | ${fmt(d.compressed)} |`,
    );
  }
  return rows.join('\n');
}

function idleTable(scenario, servers, cells) {
  const ref = (name) => cells.get(`${scenario.id}|${name}`)?.bytesPerConn.median;
  const rows = ['| server | connections held | server RSS per connection | vs ws | vs Bun | flags |', '|---|---|---|---|---|---|'];
  for (const server of servers) {
    const c = cells.get(`${scenario.id}|${server}`);
    if (!c) continue;
    if (c.unavailable || c.ok === 0) {
      rows.push(`| ${server} | ${c.unavailable ? 'unavailable' : `failed: ${c.failure}`} ||||| `);
      continue;
    }
    const short =
      c.held.median < scenario.connections
        ? `the server closed or refused ${scenario.connections - c.held.median} connections (see the run JSON first_failure)`
        : '';
    rows.push(
      `| ${server} | ${fmt(c.held.median)} of ${scenario.connections} | ${withSpread(c.bytesPerConn, (v) => `${v.toFixed(0)} B`)} | ` +
        `${ratio(c.bytesPerConn.median, ref('ws'))} | ${ratio(c.bytesPerConn.median, ref('bun'))} | ${[flags(c), short].filter(Boolean).join('; ')} |`,
    );
  }
  return rows.join('\n');
}

function httpTable(scenario, servers, cells) {
  const rows = [
    '| server | requests/s | p50 ms | p99 ms | CPU us/request | server CPU % | autocannon CPU % | flags |',
    '|---|---|---|---|---|---|---|---|',
  ];
  for (const server of servers) {
    const c = cells.get(`${scenario.id}|${server}`);
    if (!c) continue;
    if (c.unavailable || c.ok === 0) {
      rows.push(`| ${server} | ${c.unavailable ? 'unavailable' : `failed: ${c.failure}`} ||||||| `);
      continue;
    }
    rows.push(
      `| ${server} | ${withSpread(c.requests)} | ${fmt(c.httpP50.median)} | ${fmt(c.httpP99.median)} | ` +
        `${withSpread(c.cpuPerRequest, (v) => v.toFixed(1))} | ${c.serverBusy.median.toFixed(0)} | ${c.loadgenBusy.median.toFixed(0)} | ${flags(c)} |`,
    );
  }
  return rows.join('\n');
}

function plots(all, cells, dir) {
  const fanout = all.scenarios.filter((s) => s.kind === 'fanout');
  const panels = (key, f = (x) => x) =>
    fanout.map((s) => ({
      title: s.title,
      bars: all.servers.map((server) => {
        const c = cells.get(`${s.id}|${server}`);
        const m = c?.[key];
        if (!c || c.ok === 0 || !m) return { label: server, value: NaN, note: c?.unavailable ? 'unavailable' : 'failed' };
        return { label: server, value: f(m.median), min: f(m.min), max: f(m.max), note: c.limited ? '(instrument-limited)' : '' };
      }),
    }));
  const files = {
    'deliveries.svg': barPanels({ title: 'Deliveries per second', unit: 'higher is better', panels: panels('deliveries') }),
    'cpu-per-delivery.svg': barPanels({ title: 'Server CPU per delivery', unit: 'microseconds, lower is better', panels: panels('cpu') }),
  };
  const idle = all.scenarios.find((s) => s.kind === 'idle');
  if (idle) {
    files['idle-rss.svg'] = barPanels({
      title: 'Server RSS per idle subscribed connection',
      unit: 'bytes, lower is better',
      panels: [
        {
          title: `${idle.connections} connections`,
          bars: all.servers.map((server) => {
            const c = cells.get(`${idle.id}|${server}`);
            return c && c.ok
              ? { label: server, value: c.bytesPerConn.median, min: c.bytesPerConn.min, max: c.bytesPerConn.max }
              : { label: server, value: NaN, note: c?.unavailable ? 'unavailable' : 'failed' };
          }),
        },
      ],
    });
  }
  for (const s of fanout) {
    const series = all.servers
      .map((server) => ({ server, c: cells.get(`${s.id}|${server}`) }))
      .filter(({ c }) => c && c.ok > 0)
      .map(({ server, c }) => ({ label: server, points: PERCENTILES.map(([k, x]) => ({ x, y: c.latency[k].median })) }));
    if (series.length) files[`latency-${s.id}.svg`] = latencyChart({ title: `Publish-to-delivery latency: ${s.title}`, series });
  }
  mkdirSync(dir, { recursive: true });
  for (const [file, svg] of Object.entries(files)) writeFileSync(path.join(dir, file), svg);
  return Object.keys(files);
}

function header(all) {
  const m = all.machine;
  return [
    `# ringcast fanout benchmark, ${m.date.slice(0, 10)}, commit ${m.commit}${m.dirty ? ' (uncommitted changes)' : ''} (${all.profile})`,
    '',
    '| | |',
    '|---|---|',
    `| machine | ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB |`,
    `| kernel | ${m.kernel} |`,
    `| Node | ${m.node} |`,
    `| Bun | ${m.bun} |`,
    `| ws | ${m.ws} |`,
    `| autocannon | ${m.autocannon} |`,
    all.ringcast
      ? `| ringcast | ${all.ringcast.cli} (--ringcast-cli: checkout ${all.ringcast.checkout} at ${all.ringcast.commit}${all.ringcast.dirty ? ', server/ or native/ modified' : ''}; addon ${all.ringcast.addon}), run as node ${m.ringcastNodeFlags.join(' ')} |`
      : `| ringcast | ${m.ringcast} at ${m.commit}${m.ringcastNodeFlags ? `, run as node ${m.ringcastNodeFlags.join(' ')} dist/server/cli.js` : ''} |`,
    `| RLIMIT_NOFILE | ${m.nofile} |`,
    `| runs | ${all.timing.repeats} per scenario and server; warmup ${all.timing.warmup} s, measured ${all.timing.duration} s |`,
    '',
    all.workers
      ? `ringcast servers run with --workers ${all.workers.value}, pinned to CPUs ${all.workers.cpus.join(',')} (their server CPU % is of one core, up to ${100 * all.workers.cpus.length}); the peers on CPU 0; generator (or autocannon) on CPU 1; each server started fresh per run. `
      : 'Server pinned to CPU 0, generator (or autocannon) to CPU 1, each server started fresh per run. ',
    'Figures are medians over the runs; ±% is the spread (max − min) / median. Ratios divide by the ws and Bun medians ',
    '(deliveries/s: higher is better; CPU per delivery and RSS: lower is better). A run whose generator used more than ',
    `${INSTRUMENT_LIMIT_PCT}% of its core is flagged **limited by the instrument**: it measured the generator, not the server. `,
    '"other load %" is what else ran on the two cores during the window (other processes, interrupts), from /proc/stat; ',
    '"bound by" says what set the pace: the server (at ~100% of its core), the generator, or the rate the scenario asked for. ',
    'How to read this: docs/loadtest.md.',
  ].join('\n');
}

/** The performance targets against Bun and ws, one line each, for every ringcast server measured. */
function targets(all, cells) {
  const get = (scenario, server) => {
    const c = cells.get(`${scenario}|${server}`);
    return c && c.ok > 0 ? c : null;
  };
  const lines = [];
  for (const server of all.servers.filter((s) => s.startsWith('ringcast'))) {
    const first = [...cells.entries()].find(([k]) => k.endsWith(`|${server}`))?.[1];
    if (first?.unavailable) {
      lines.push(`- **${server}**: unavailable (${first.unavailable.slice(0, 200)})`);
      continue;
    }
    const parts = [];
    const fixed = get('fixed-400k-10k', server),
      fixedBun = get('fixed-400k-10k', 'bun');
    if (fixed)
      parts.push(
        `CPU per delivery at 400k/s ${fixed.cpu.median.toFixed(2)} us vs Bun ${fixedBun ? fixedBun.cpu.median.toFixed(2) : 'n/a'} us (${ratio(fixed.cpu.median, fixedBun?.cpu.median)}; target <= 1.00x)`,
      );
    const closed = get('fanout-10k-64B', server),
      closedWs = get('fanout-10k-64B', 'ws');
    if (closed) parts.push(`10k closed loop CPU per delivery ${ratio(closed.cpu.median, closedWs?.cpu.median)} of ws (target about 0.1x)`);
    const large = get('large-1k-16KiB', server),
      largeBun = get('large-1k-16KiB', 'bun');
    if (large)
      parts.push(
        `16 KiB throughput ${ratio(large.deliveries.median, largeBun?.deliveries.median)} of Bun (target >= 1x)${large.limited || largeBun?.limited ? ', instrument-limited' : ''}`,
      );
    const idle = get('idle', server),
      idleBun = get('idle', 'bun');
    if (idle)
      parts.push(
        `idle RSS ${idle.bytesPerConn.median.toFixed(0)} B/connection vs Bun ${idleBun ? idleBun.bytesPerConn.median.toFixed(0) : 'n/a'} B (target < 1024 B)`,
      );
    const mine = [...cells.entries()].filter(([k]) => k.endsWith(`|${server}`)).map(([, c]) => c);
    const anomalies = mine.reduce((n, c) => n + c.lost + c.duplicated + c.reordered, 0);
    parts.push(anomalies === 0 ? 'no lost, duplicated or reordered delivery' : `**${anomalies} lost/duplicated/reordered deliveries**`);
    lines.push(`- **${server}**: ${parts.join('; ')}.`);
  }
  return lines.join('\n');
}

/** Was the instrument ever the limit, and was the machine quiet? One paragraph over all runs. */
function instrumentCheck(all) {
  const measured = all.runs.filter((r) => r.ok && Number.isFinite(r.loadgenBusyPct));
  if (measured.length === 0) return 'No measured runs.';
  const limited = measured.filter((r) => r.limitedByInstrument);
  const busiest = measured.reduce((a, b) => (b.loadgenBusyPct > a.loadgenBusyPct ? b : a));
  const other = measured
    .map((r) => r.otherLoadPct)
    .filter(Number.isFinite)
    .sort((a, b) => a - b);
  const lines = [
    `${limited.length} of ${measured.length} measured runs had the generator (or autocannon) above ${INSTRUMENT_LIMIT_PCT}% of its core` +
      (limited.length
        ? `: ${[...new Set(limited.map((r) => `${r.scenario} on ${r.server}`))].join(', ')}; those figures are lower bounds for the server.`
        : '; it limited no figure.'),
    `The busiest generator run: ${busiest.loadgenBusyPct.toFixed(0)}% (${busiest.scenario} on ${busiest.server}).`,
  ];
  if (other.length) {
    const med = other[Math.floor(other.length / 2)];
    lines.push(
      `Other load on the two cores during the measured windows: median ${med.toFixed(0)}%, max ${other[other.length - 1].toFixed(0)}% of a core` +
        (med > 10 ? ' — the machine was not quiet; absolute figures are low, ratios within a repeat are fairer.' : '.'),
    );
  }
  return lines.join(' ');
}

/**
 * What the generator's checks found over the successful runs: deliveries lost (only where the
 * drain completed), duplicated, reordered, and whether any run was limited by the instrument,
 * fell behind its schedule or did not drain.
 */
export function outcome(ok) {
  return {
    lost: ok.filter((r) => r.drainComplete !== false).reduce((n, r) => n + (r.lost ?? 0), 0),
    duplicated: ok.reduce((n, r) => n + (r.duplicated ?? 0), 0),
    reordered: ok.reduce((n, r) => n + (r.reordered ?? 0), 0),
    limited: ok.some((r) => r.limitedByInstrument),
    behind: ok.some((r) => r.keptUp === false),
    undrained: ok.some((r) => r.drainComplete === false),
  };
}

export function writeReport(all) {
  const cells = aggregate(all);
  const base = `${all.machine.date.slice(0, 10)}-${all.ringcast?.commit ?? all.machine.commit}-${all.profile}${all.workers ? `-workers-${all.workers.value}` : ''}`;
  const reportsDir = path.join(LOADTEST, 'reports');
  const svgDir = path.join(reportsDir, base);
  const svgs = plots(all, cells, svgDir);
  const sections = [
    header(all),
    `## Is the generator the bottleneck?\n\n${instrumentCheck(all)}`,
    `## Against the targets: CPU per delivery, throughput and idle memory beside Bun and ws\n\n${targets(all, cells)}`,
  ];
  for (const s of all.scenarios) {
    const loadgen = s.loadgen
      ? `\n\nGenerator: \`${Object.entries(s.loadgen)
          .map(([k, v]) => `--${k} ${v}`)
          .join(' ')}\``
      : '';
    const body =
      s.kind === 'idle'
        ? idleTable(s, all.servers, cells)
        : s.kind === 'http'
          ? httpTable(s, all.servers, cells)
          : fanoutTable(s, all.servers, cells, (server) => serverCores(all, server));
    sections.push(`## ${s.title}${loadgen}\n\n${body}`);
  }
  if (all.scenarios.some((s) => s.id === 'chat-1k-16KiB-deflate') && all.scenarios.some((s) => s.id === 'chat-1k-16KiB-plain')) {
    sections.push(`## permessage-deflate: each server against itself\n\n${deflateTable(all.servers, cells)}`);
  }
  sections.push(`## Plots\n\n${svgs.map((f) => `![${f}](${base}/${f})`).join('\n\n')}`);
  const file = path.join(reportsDir, `${base}.md`);
  writeFileSync(file, `${sections.join('\n\n')}\n`);
  return file;
}
