// The soak's report: a markdown page (summary table, invariants, memory verdicts, faults, first
// violations) and SVG line charts over time drawn here (no plotting library), with every fault
// shaded on the time axis. Named DATE-COMMIT-soak-SEED so a failing seed's report sits beside it.
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const REPORTS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../reports');
const MiB = 1024 * 1024;
const FAMILY = 'font-family="system-ui,sans-serif"';
const FONT = `${FAMILY} font-size="11"`;
const PALETTE = ['#d9480f', '#1971c2', '#f59f00', '#5f3dc4', '#2b8a3e', '#c2255c', '#495057'];
const FAULT_COLORS = { redis: '#ffc9c9', node: '#d0ebff', 'worker-crash': '#e5dbff', 'fd-exhaust': '#fff3bf', 'link-cut': '#d3f9d8' };

const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const faultColor = (kind) => FAULT_COLORS[kind] ?? FAULT_COLORS[kind.split('-')[0]] ?? '#e9ecef';

/**
 * A line chart over the run: series [{ label, points: [{t, v}] }] (v already in `unit`), faults
 * [{ kind, t0, t1 }] drawn as shaded bands with their names.
 */
export function timeChart({ title, unit, series, faults, durationS }) {
  const width = 900,
    height = 300,
    left = 60,
    right = 170,
    top = 30,
    bottom = 40;
  const w = width - left - right,
    h = height - top - bottom;
  const values = series.flatMap((s) => s.points.map((p) => p.v)).filter(Number.isFinite);
  const hi = values.length ? Math.max(...values) * 1.08 || 1 : 1;
  const tMax = Math.max(durationS, ...series.flatMap((s) => s.points.map((p) => p.t)));
  const x = (t) => left + (t / tMax) * w;
  const y = (v) => top + h - (v / hi) * h;
  const parts = [`<text x="${left}" y="18" font-weight="bold" ${FONT}>${esc(title)} (${esc(unit)})</text>`];
  faults.forEach((f, i) => {
    const x0 = x(f.t0),
      x1 = Math.max(x0 + 2, x(f.t1 ?? f.t0));
    parts.push(
      `<rect x="${x0.toFixed(1)}" y="${top}" width="${(x1 - x0).toFixed(1)}" height="${h}" fill="${faultColor(f.kind)}" opacity="0.8"/>`,
    );
    parts.push(
      `<text x="${(x0 + 2).toFixed(1)}" y="${top + 10 + (i % 4) * 11}" fill="#495057" ${FAMILY} font-size="9">${esc(f.kind)}</text>`,
    );
  });
  for (let k = 0; k <= 4; k++) {
    const v = (hi * k) / 4;
    parts.push(`<line x1="${left}" x2="${left + w}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}" stroke="#dee2e6"/>`);
    parts.push(
      `<text x="${left - 6}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end" ${FONT}>${v >= 100 ? v.toFixed(0) : v.toPrecision(3)}</text>`,
    );
  }
  const step = tMax > 600 ? 300 : tMax > 120 ? 60 : 15;
  for (let t = 0; t <= tMax; t += step)
    parts.push(`<text x="${x(t).toFixed(1)}" y="${top + h + 16}" text-anchor="middle" ${FONT}>${t} s</text>`);
  parts.push(`<rect x="${left}" y="${top}" width="${w}" height="${h}" fill="none" stroke="#868e96"/>`);
  series.forEach((s, i) => {
    const color = PALETTE[i % PALETTE.length];
    const pts = s.points.filter((p) => Number.isFinite(p.v));
    if (pts.length > 0) {
      const d = pts.map((p, k) => `${k ? 'L' : 'M'}${x(p.t).toFixed(1)} ${y(p.v).toFixed(1)}`).join('');
      parts.push(`<path d="${d}" fill="none" stroke="${color}" stroke-width="1.5"/>`);
    }
    parts.push(`<rect x="${left + w + 12}" y="${top + i * 18}" width="10" height="10" fill="${color}"/>`);
    parts.push(`<text x="${left + w + 28}" y="${top + i * 18 + 9}" ${FONT}>${esc(s.label)}</text>`);
  });
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">` +
    `<rect width="100%" height="100%" fill="white"/>${parts.join('')}</svg>\n`
  );
}

function p99(values) {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(s.length * 0.99))];
}

const scaled = (points, k) => (points ?? []).map((p) => ({ t: p.t, v: p.v / k }));

export async function writeReport(s, dir = REPORTS) {
  const date = new Date().toISOString().slice(0, 10);
  const name = `${date}-${s.commit}-soak-${s.seed}`;
  const plots = path.join(dir, name);
  await mkdir(plots, { recursive: true });
  const faults = s.events;
  const secs = [...s.buckets.keys()].sort((a, b) => a - b);
  const charts = {
    'memory.svg': timeChart({
      title: 'Memory',
      unit: 'MiB',
      durationS: s.durationS,
      faults,
      series: [
        { label: 'A (uring) RSS', points: scaled(s.series.get('A.rss'), MiB) },
        { label: 'B (ws) RSS', points: scaled(s.series.get('B.rss'), MiB) },
        { label: 'A heap+external', points: scaled(s.series.get('A.heap_external'), MiB) },
        { label: 'B heap+external', points: scaled(s.series.get('B.heap_external'), MiB) },
        { label: 'A C memory in use', points: scaled(s.series.get('A.malloc_in_use'), MiB) },
        { label: 'B C memory in use', points: scaled(s.series.get('B.malloc_in_use'), MiB) },
        { label: 'C (memory broker) RSS', points: scaled(s.series.get('C.rss'), MiB) },
        { label: 'Redis used_memory', points: scaled(s.series.get('redis.used_memory'), MiB) },
      ],
    }),
    'fds.svg': timeChart({
      title: 'Open fds',
      unit: 'fds',
      durationS: s.durationS,
      faults,
      series: [
        { label: 'A (uring)', points: s.series.get('A.fds') ?? [] },
        { label: 'B (ws)', points: s.series.get('B.fds') ?? [] },
      ],
    }),
    'deliveries.svg': timeChart({
      title: 'Deliveries to SDK clients',
      unit: 'per second',
      durationS: s.durationS,
      faults,
      series: [{ label: 'deliveries/s', points: secs.map((t) => ({ t, v: s.buckets.get(t).deliveries })) }],
    }),
    'lag.svg': timeChart({
      title: 'Publish-to-delivery lag p99 (per second)',
      unit: 'ms',
      durationS: s.durationS,
      faults,
      series: [{ label: 'lag p99', points: secs.map((t) => ({ t, v: p99(s.buckets.get(t).lags) })) }],
    }),
  };
  for (const [file, svg] of Object.entries(charts)) await writeFile(path.join(plots, file), svg);
  const md = path.join(dir, `${name}.md`);
  await writeFile(md, markdown(s, name));
  return [md, plots];
}

function markdown(s, name) {
  const f = (v, unit) => (Number.isFinite(v) ? (unit === 'MiB' ? (v / MiB).toFixed(1) : v.toFixed(0)) : 'n/a');
  const lines = [
    `# Soak ${s.violations.length === 0 ? 'passed' : 'FAILED'}: seed ${s.seed}, ${s.durationS} s, commit ${s.commit}`,
    '',
    `Replay: \`npm run soak -- --minutes ${s.opts.minutes} --seed ${s.seed}${s.opts.clients !== 240 ? ` --clients ${s.opts.clients}` : ''}${s.opts.rate !== 1 ? ` --rate ${s.opts.rate}` : ''}\``,
    '',
    `Machine: ${process.platform} ${process.arch}, Node ${process.version}, ${new Date().toISOString()}. Redis 7 (AOF everysec), node A uring and node B ws, each --workers 2; B runs with RLIMIT_NOFILE ${s.opts.fdLimit}.`,
    '',
    '## Invariants',
    '',
    '| invariant | checks | violations | violation kinds |',
    '| --- | ---: | ---: | --- |',
    ...s.rows.map((r) => `| ${r.name} | ${r.checks} | ${r.violations} | ${r.kinds} |`),
    '',
    '## Memory and fds after warm-up',
    '',
    '| series | judged from (s) | middle | late | slope /min | late slope /min | threshold | verdict |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
    ...Object.entries(s.memory).map(([n, m]) =>
      m.evaluated
        ? `| ${n} (${m.unit}) | ${m.from.toFixed(0)} | ${f(m.levelMid, m.unit)} | ${f(m.levelLate, m.unit)} | ${f(m.slopePerMin, m.unit)} | ${f(m.lateSlopePerMin, m.unit)} | ${f(m.threshold, m.unit)} | ${m.fail ? '**grows**' : 'flat'} |`
        : `| ${n} (${m.unit}) | | | | ${f(m.slopePerMin, m.unit)} | | | not judged: ${m.why} |`,
    ),
    '',
    '![memory](' + name + '/memory.svg)',
    '![fds](' + name + '/fds.svg)',
    '![deliveries](' + name + '/deliveries.svg)',
    '![lag](' + name + '/lag.svg)',
    '',
    '## Workload',
    '',
    '| counter | value |',
    '| --- | ---: |',
    ...Object.entries({ ...s.ledger, ...s.workload }).map(([k, v]) => `| ${k} | ${v} |`),
    `| harness CPU, mean / max (share of one core) | ${(s.harness.cpuMean * 100).toFixed(0)}% / ${(s.harness.cpuMax * 100).toFixed(0)}% |`,
    `| harness event-loop delay p99 | ${s.harness.loopDelayP99Ms.toFixed(0)} ms |`,
    '',
    '## Faults as they ran',
    '',
    '| start (s) | end (s) | fault | detail |',
    '| ---: | ---: | --- | --- |',
    ...s.events.map((e) => `| ${e.t0.toFixed(1)} | ${(e.t1 ?? e.t0).toFixed(1)} | ${e.kind} | \`${JSON.stringify(e.detail)}\` |`),
    '',
    '## Nodes',
    '',
    ...Object.entries(s.nodes).map(([n, x]) => `- ${n} (${x.transport}): started ${x.starts} times, ${x.errorLines} error/fatal log lines`),
    '',
  ];
  if (s.violations.length > 0) {
    lines.push('## First violations', '');
    for (const v of [...s.violations].sort((a, b) => a.detectedAt - b.detectedAt).slice(0, 20))
      lines.push(`- t=${v.detectedAt} s (evidence at ${v.at} s) **${v.kind}** \`${JSON.stringify(v.detail)}\``);
    lines.push('');
  }
  return lines.join('\n');
}
