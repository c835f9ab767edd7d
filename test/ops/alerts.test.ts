// The Grafana dashboard and the alert rules cannot drift from the server: every series they name
// is served by a running server (--workers 2 on the Redis broker, the shape with the most series),
// and promtool accepts the rules.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { startCli } from '../helpers/cli.js';
import { describeWithRedis, redisFixture } from '../helpers/redis.js';

const RULES = fileURLToPath(new URL('../../docs/prometheus/alerts.yml', import.meta.url));
const RULE_TESTS = fileURLToPath(new URL('../../docs/prometheus/alerts.test.yml', import.meta.url));
const DASHBOARD = fileURLToPath(new URL('../../docs/grafana/ringcast.json', import.meta.url));
/** series Prometheus makes itself, not the server */
const PROMETHEUS_OWN = new Set(['up']);
const SERIES_RE = /\b(?:ringcast|nodejs|process)_[a-z0-9_]+\b/g;

interface Panel {
  title: string;
  type: string;
  targets?: { expr: string }[];
}

function dashboardExprs(): { where: string; expr: string }[] {
  const dash = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as { panels: Panel[] };
  return dash.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ where: `panel "${p.title}"`, expr: t.expr })));
}

function ruleExprs(): { where: string; expr: string }[] {
  // the rules file is plain YAML: each rule's expr is one line or a `|` block indented below it
  const lines = readFileSync(RULES, 'utf8').split('\n');
  const out: { where: string; expr: string }[] = [];
  let alert = '';
  for (let i = 0; i < lines.length; i++) {
    const a = /^\s*- alert: (\S+)/.exec(lines[i]!);
    if (a) alert = a[1]!;
    const e = /^(\s*)expr: (.*)$/.exec(lines[i]!);
    if (!e) continue;
    if (e[2] !== '|') {
      out.push({ where: `alert ${alert}`, expr: e[2]! });
      continue;
    }
    const block: string[] = [];
    while (i + 1 < lines.length && (lines[i + 1]!.startsWith(e[1]! + '  ') || lines[i + 1]!.trim() === '')) block.push(lines[++i]!.trim());
    out.push({ where: `alert ${alert}`, expr: block.join(' ') });
  }
  return out;
}

/** The series names a /metrics text declares (histograms with their _bucket, _sum, _count). */
function served(text: string): Set<string> {
  const names = new Set<string>();
  for (const line of text.split('\n')) {
    const t = /^# TYPE (\S+) (\S+)/.exec(line);
    if (t) {
      names.add(t[1]!);
      if (t[2] === 'histogram' || t[2] === 'summary') for (const s of ['_bucket', '_sum', '_count']) names.add(t[1]! + s);
    } else if (line !== '' && !line.startsWith('#')) names.add(line.split(/[{ ]/)[0]!);
  }
  return names;
}

describe('the alert rules', () => {
  it('pass promtool check rules', () => {
    const r = spawnSync('promtool', ['check', 'rules', RULES], { encoding: 'utf8' });
    if (r.error) throw new Error(`promtool is missing (apt-get install prometheus): ${r.error.message}`);
    expect(r.stdout + r.stderr).toMatch(/SUCCESS: \d+ rules found/);
    expect(r.status).toBe(0);
  });

  it('fire on the series they are written for, and not on a healthy node (promtool test rules)', () => {
    const r = spawnSync('promtool', ['test', 'rules', RULE_TESTS], { encoding: 'utf8' });
    if (r.error) throw new Error(`promtool is missing (apt-get install prometheus): ${r.error.message}`);
    expect(r.stdout + r.stderr).toContain('SUCCESS');
    expect(r.status).toBe(0);
  });

  it('cover what docs/metrics.md says to alert on', () => {
    const names = ruleExprs().map((r) => r.where);
    for (const alert of [
      'RingcastNodeNotScraped',
      'RingcastBrokerDown',
      'RingcastWorkerRestarts',
      'RingcastSlowConsumerClosesClimbing',
      'RingcastEventLoopLag',
      'RingcastConnectionsNearLimit',
      'RingcastHistoryEvictions',
    ])
      expect(names).toContain(`alert ${alert}`);
  });
});

describe('the Grafana dashboard', () => {
  it('lays its panels out on the 24-column grid without overlap, each with its own id and the data source variable', () => {
    const dash = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as {
      uid: string;
      panels: (Panel & { id: number; gridPos: { x: number; y: number; w: number; h: number }; datasource?: { uid: string } })[];
      templating: { list: { name: string }[] };
    };
    expect(dash.uid).toBe('ringcast-overview');
    expect(dash.templating.list.map((v) => v.name)).toEqual(['datasource', 'job', 'instance']);
    expect(new Set(dash.panels.map((p) => p.id)).size).toBe(dash.panels.length);
    const taken = new Set<string>();
    for (const p of dash.panels) {
      const { x, y, w, h } = p.gridPos;
      expect(x + w, p.title).toBeLessThanOrEqual(24);
      for (let i = x; i < x + w; i++)
        for (let j = y; j < y + h; j++) {
          expect(taken.has(`${i},${j}`), `${p.title} overlaps at ${i},${j}`).toBe(false);
          taken.add(`${i},${j}`);
        }
      if (p.type !== 'row') expect(p.datasource?.uid, p.title).toBe('${datasource}');
    }
  });
});

describeWithRedis('the dashboard and the rules', () => {
  const r = redisFixture();

  it('name only series a running server serves (--workers 2, Redis broker)', async () => {
    const srv = startCli(['--port', '0', '--workers', '2', '--broker', r.redis.url, '--max-connections', '1000']);
    const port = (await srv.listening).port as number;
    const names = served(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text());
    const exprs = [...dashboardExprs(), ...ruleExprs()];
    expect(exprs.length).toBeGreaterThan(30);
    const missing: string[] = [];
    for (const { where, expr } of exprs) {
      const used = [...expr.matchAll(SERIES_RE)].map((m) => m[0]);
      // an expression that names no series the server serves (nor Prometheus's own up) is a typo
      if (used.length === 0 && ![...PROMETHEUS_OWN].some((p) => new RegExp(`\\b${p}\\{`).test(expr))) missing.push(`${where}: ${expr}`);
      for (const name of used) if (!names.has(name)) missing.push(`${where}: ${name}`);
    }
    expect(missing).toEqual([]);
  });
});
