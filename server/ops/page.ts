// The ops page: plain HTML and CSS, and one small module (served at /ops/app.js) that logs in,
// reads /ops/events through a streaming fetch (so the key travels as Authorization: Bearer, kept
// in the tab's sessionStorage and never in a URL) and draws what each line says. No framework, no
// build step. Every name or id a client chose (topics, users) is set as text, never as HTML.
// Hooks the browser test relies on: #login-form/#key, #stream, #broker, [data-node],
// [data-worker], #total-connections, #topic-search/#topics, #user-name/#user-results.

export function opsPage(): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>ringcast ops</title>
<style>
  :root { font: 14px/1.4 system-ui, sans-serif; color: #1d2330; background: #f4f5f8; --up: #1f9d55; --down: #c0392b; --warn: #d68910; }
  body { margin: 0; }
  header { display: flex; align-items: center; gap: 14px; padding: 10px 18px; background: #1d2330; color: #fff; }
  header h1 { font-size: 17px; margin: 0; flex: 1; }
  header h1 small { font-weight: 400; color: #aab; margin-left: 8px; }
  .badge { padding: 2px 10px; border-radius: 10px; font-size: 12px; background: #888; color: #fff; white-space: nowrap; }
  .badge[data-state="up"], .badge[data-state="live"] { background: var(--up); }
  .badge[data-state="down"], .badge[data-state="stalled"], .badge[data-state="silent"] { background: var(--down); }
  .badge[data-state="degraded"], .badge[data-state="starting"], .badge[data-state="connecting"], .badge[data-state="unknown"] { background: var(--warn); }
  header button { font: inherit; font-size: 12px; background: none; color: #ccd; border: 1px solid #556; border-radius: 6px; padding: 2px 10px; cursor: pointer; }
  main { display: grid; grid-template-columns: minmax(420px, 1fr) minmax(420px, 1fr); gap: 14px; padding: 14px 18px; }
  section { background: #fff; border: 1px solid #dde; border-radius: 8px; padding: 12px 14px; min-width: 0; }
  section.wide { grid-column: 1 / -1; }
  h2 { font-size: 12px; text-transform: uppercase; letter-spacing: .04em; color: #667; margin: 0 0 8px; display: flex; gap: 10px; align-items: center; }
  h2 .big { font-size: 20px; color: #1d2330; text-transform: none; letter-spacing: 0; margin-left: auto; }
  table { width: 100%; border-collapse: collapse; font-size: 13px; }
  th { text-align: left; color: #778; font-weight: 500; border-bottom: 1px solid #dde; padding: 4px 6px; }
  td { padding: 4px 6px; border-bottom: 1px solid #f0f0f4; font-variant-numeric: tabular-nums; }
  td.num, th.num { text-align: right; }
  tr.node td { font-weight: 600; background: #f7f8fb; }
  tr.worker td:first-child { padding-left: 22px; color: #556; }
  tr[data-state="down"] td, tr[data-state="stalled"] td { color: var(--down); }
  .reason { color: var(--down); font-size: 12px; }
  .charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(260px, 1fr)); gap: 12px; }
  .chart { border: 1px solid #eef; border-radius: 6px; padding: 6px 8px; }
  .chart .head { display: flex; justify-content: space-between; font-size: 12px; color: #667; }
  .chart .head b { color: #1d2330; font-size: 15px; }
  .chart svg { width: 100%; height: 56px; display: block; }
  .legend { font-size: 11px; color: #667; display: flex; gap: 8px; flex-wrap: wrap; min-height: 14px; }
  .chart .note { font-size: 11px; color: #667; margin-top: 2px; }
  .legend i { display: inline-block; width: 8px; height: 8px; border-radius: 2px; margin-right: 3px; }
  input { font: inherit; padding: 5px 8px; border: 1px solid #ccd; border-radius: 6px; }
  button.go { font: inherit; padding: 5px 12px; border: 0; border-radius: 6px; background: #2e6fd8; color: #fff; cursor: pointer; }
  .muted { color: #889; }
  #login { position: fixed; inset: 0; display: grid; place-items: center; background: #1d2330; }
  #login[hidden] { display: none; }
  #login form { background: #fff; padding: 22px 26px; border-radius: 10px; display: grid; gap: 10px; width: 320px; }
  #login h1 { margin: 0; font-size: 18px; }
  #login-error { color: var(--down); font-size: 13px; min-height: 18px; margin: 0; }
</style>
</head>
<body>
<div id="login"><form id="login-form" autocomplete="off">
  <h1>ringcast ops</h1>
  <label for="key" class="muted">API key (--api-key) or an admin token</label>
  <input id="key" type="password" required>
  <button class="go" id="login-button" type="submit">Open</button>
  <p id="login-error" role="alert"></p>
</form></div>
<header>
  <h1>ringcast ops<small id="self"></small></h1>
  <span class="muted" id="viewers"></span>
  <span>broker <span class="badge" id="broker" data-state="unknown">?</span></span>
  <span class="badge" id="stream" data-state="connecting">connecting</span>
  <button id="logout" type="button">Log out</button>
</header>
<main>
  <section class="wide">
    <h2>Cluster <span class="big"><span id="total-connections">0</span> <span class="muted" style="font-size:13px">connections</span></span></h2>
    <table><thead><tr><th>node / worker</th><th>transport</th><th class="num">connections</th><th class="num">uptime</th><th>state</th><th>broker</th></tr></thead>
    <tbody id="nodes"></tbody></table>
  </section>
  <section class="wide">
    <h2>Rates <span class="muted" style="text-transform:none">(this node, every worker added up; up to the last 5 minutes)</span></h2>
    <div class="charts" id="charts"></div>
  </section>
  <section>
    <h2>Busiest topics <input id="topic-search" placeholder="search topics" style="margin-left:auto;font-size:12px"></h2>
    <table><thead><tr><th>topic</th><th class="num">subscribers</th><th class="num">publishes/s</th><th class="num">last seq</th></tr></thead>
    <tbody id="topics"></tbody></table>
  </section>
  <section>
    <h2>Find a user</h2>
    <form id="user-form" style="display:flex;gap:8px;margin-bottom:8px"><input id="user-name" placeholder="user id (JWT sub)" style="flex:1"><button class="go" id="user-find" type="submit">Find</button></form>
    <div id="user-results" class="muted">Their connections, topics, node and worker, on every node.</div>
  </section>
</main>
<script type="module" src="/ops/app.js"></script>
</body>
</html>
`;
}

export function opsModule(): string {
  return OPS_MODULE;
}

// The module is written without template literals so it can live in this TypeScript string.
const OPS_MODULE = String.raw`
const KEY = 'ringcast-ops-key';
const $ = (id) => document.getElementById(id);
let points = [];
let lastSeq = new Map(); // topic -> [seq, t] of the previous line, for publishes/s
let searching = '';
let streamAbort;

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, v);
  for (const c of children) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

function si(n, unit) {
  const a = Math.abs(n);
  const s = a >= 1e9 ? (n / 1e9).toFixed(1) + 'G' : a >= 1e6 ? (n / 1e6).toFixed(1) + 'M' : a >= 1e4 ? (n / 1e3).toFixed(1) + 'k' : a >= 100 || n === Math.round(n) ? String(Math.round(n)) : n.toFixed(1);
  return s + (unit || '');
}
function bytes(n) { return n >= 1048576 ? (n / 1048576).toFixed(1) + ' MiB/s' : n >= 1024 ? (n / 1024).toFixed(1) + ' KiB/s' : Math.round(n) + ' B/s'; }
function uptime(s) { return s >= 86400 ? Math.floor(s / 86400) + 'd ' + Math.floor((s % 86400) / 3600) + 'h' : s >= 3600 ? Math.floor(s / 3600) + 'h ' + Math.floor((s % 3600) / 60) + 'm' : s >= 60 ? Math.floor(s / 60) + 'm ' + (s % 60) + 's' : s + 's'; }

// ---- login ----
function showLogin(msg) {
  $('login').hidden = false;
  $('login-error').textContent = msg || '';
  $('key').focus();
}
$('login-form').addEventListener('submit', (e) => {
  e.preventDefault();
  sessionStorage.setItem(KEY, $('key').value);
  $('key').value = '';
  start();
});
$('logout').addEventListener('click', () => {
  sessionStorage.removeItem(KEY);
  if (streamAbort) streamAbort.abort();
  showLogin('');
});

async function authed(path) {
  const res = await fetch(path, { headers: { Authorization: 'Bearer ' + sessionStorage.getItem(KEY) }, cache: 'no-store' });
  if (res.status === 401) { sessionStorage.removeItem(KEY); showLogin('That key was refused.'); throw new Error('unauthorized'); }
  return res;
}

// ---- the stream ----
async function start() {
  if (!sessionStorage.getItem(KEY)) return showLogin('');
  if (streamAbort) streamAbort.abort();
  const abort = (streamAbort = new AbortController());
  setStream('connecting', 'connecting');
  try {
    const res = await fetch('/ops/events', { headers: { Authorization: 'Bearer ' + sessionStorage.getItem(KEY) }, signal: abort.signal, cache: 'no-store' });
    if (res.status === 401) { sessionStorage.removeItem(KEY); return showLogin('That key was refused.'); }
    if (!res.ok) throw new Error((await res.json().catch(() => ({}))).error || 'HTTP ' + res.status);
    $('login').hidden = true;
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += value;
      let i;
      while ((i = buf.indexOf('\n\n')) !== -1) {
        const chunk = buf.slice(0, i);
        buf = buf.slice(i + 2);
        for (const line of chunk.split('\n')) if (line.startsWith('data: ')) onLine(JSON.parse(line.slice(6)));
      }
    }
    throw new Error('stream ended');
  } catch (err) {
    if (abort.signal.aborted) return;
    $('login').hidden = true;
    setStream('silent', 'reconnecting: ' + err.message);
    setTimeout(() => { if (streamAbort === abort) start(); }, 2000);
  }
}

function setStream(state, text) { $('stream').dataset.state = state; $('stream').textContent = text; }

let staleTimer;
function onLine(ev) {
  setStream('live', 'live');
  clearTimeout(staleTimer);
  // no line for three seconds: this node stopped answering (or the network between)
  staleTimer = setTimeout(() => setStream('silent', 'no data from the server'), 3000);
  if (ev.history) points = ev.history;
  else points.push(ev.point);
  if (points.length > 300) points = points.slice(points.length - 300);
  $('self').textContent = ev.self.id;
  $('viewers').textContent = ev.viewers.open + ' of ' + ev.viewers.max + ' viewers';
  const b = ev.self.broker;
  const bstate = b.state === 'up' ? 'up' : 'down';
  $('broker').dataset.state = bstate;
  $('broker').textContent = b.broker + ': ' + b.state;
  $('broker').title = b.reason || '';
  drawNodes(ev);
  drawCharts();
  if (searching === '') drawTopics(ev.topics, ev.t);
  else search();
}

// ---- the cluster ----
function drawNodes(ev) {
  const nodes = ev.nodes || [{ row: ev.self, answering: true, silentSeconds: 0 }];
  const body = $('nodes');
  body.replaceChildren();
  let total = 0;
  // without Redis this node cannot hear from the others: they are unknown, not down
  const blind = ev.nodes !== undefined && ev.self.broker.state !== 'up';
  for (const n of nodes) {
    const r = n.row;
    const self = r.id === ev.self.id;
    const state = n.answering || self ? r.state : blind ? 'unknown' : 'down';
    if (n.answering || self) total += r.connections;
    // a node not heard from: its broker state as last written would be stale
    const brokerCell = n.answering || self
      ? h('td', {}, h('span', { class: 'badge', 'data-state': r.broker.state === 'up' ? 'up' : 'down' }, r.broker.state))
      : h('td', { class: 'muted' }, '?');
    if ((n.answering || self) && r.broker.reason && r.broker.state !== 'up') brokerCell.append(' ', h('span', { class: 'reason' }, r.broker.reason));
    body.append(h('tr', { class: 'node', 'data-node': r.id, 'data-state': state },
      h('td', {}, r.id + (self ? ' (this node)' : '')),
      h('td', {}, r.transport),
      h('td', { class: 'num' }, si(r.connections)),
      h('td', { class: 'num' }, uptime(r.uptimeSeconds)),
      h('td', {}, h('span', { class: 'badge', 'data-state': state }, n.answering || self ? state : state === 'unknown' ? 'unknown (no Redis)' : 'silent ' + n.silentSeconds + 's')),
      brokerCell));
    for (const w of r.workers) {
      const ws = n.answering || self ? w.state : state;
      body.append(h('tr', { class: 'worker', 'data-worker': r.id + '/' + w.index, 'data-state': ws },
        h('td', {}, 'worker ' + w.index),
        h('td', {}, r.transport),
        h('td', { class: 'num' }, si(w.connections)),
        h('td', { class: 'num' }, uptime(w.uptimeSeconds)),
        h('td', {}, h('span', { class: 'badge', 'data-state': ws }, ws)),
        h('td', {})));
    }
  }
  $('total-connections').textContent = String(total);
}

// ---- charts ----
const COLORS = ['#2e6fd8', '#c0392b', '#d68910', '#1f9d55', '#8e44ad', '#16a085'];
const CHARTS = [
  { id: 'connections', title: 'connections', lines: [['open', (p) => p.connections]], fmt: (n) => si(n) },
  { id: 'publishes', title: 'publishes/s', lines: [['publishes', (p) => p.publishes]], fmt: (n) => si(n, '/s') },
  { id: 'deliveries', title: 'deliveries/s', lines: [['deliveries', (p) => p.deliveries]], fmt: (n) => si(n, '/s') },
  { id: 'bytes', title: 'bytes out/s', lines: [['uncompressed', (p) => p.bytesOut], ['on the wire', onTheWire]], fmt: bytes, now: (p) => p.bytesOut, note: compressedShare },
  { id: 'closes', title: 'closes/s by reason', lines: [['slow consumer', (p) => p.closes.slow], ['close timeout', (p) => p.closes.timeout], ['policy (flood)', (p) => p.closes.policy]], fmt: (n) => si(n, '/s') },
  { id: 'errors', title: 'errors/s by code', lines: 'errors', fmt: (n) => si(n, '/s') },
  { id: 'lag', title: 'event-loop lag (main thread)', lines: [['lag', (p) => p.lagMs]], fmt: (n) => n.toFixed(1) + ' ms' },
];

// what went to the kernel: the plain part as it is, the compressed part at its compressed size
function onTheWire(p) { return p.bytesOut - p.compressed.source + p.compressed.wire; }

// over the last minute: a single second is often empty
function compressedShare() {
  let out = 0, source = 0, wire = 0;
  for (const p of points.slice(-60)) { out += p.bytesOut; source += p.compressed.source; wire += p.compressed.wire; }
  if (source === 0) return 'compressed share: none (1 min)';
  const pct = (x) => (100 * x).toFixed(x < 0.1 ? 1 : 0) + '%';
  return 'compressed share ' + pct(source / out) + ', at ' + pct(wire / source) + ' of its size (1 min)';
}

function errorLines() {
  const seen = new Map();
  for (const p of points) for (const [c, n] of Object.entries(p.errors)) seen.set(c, (seen.get(c) || 0) + n);
  return [...seen.entries()].sort((a, b) => b[1] - a[1]).slice(0, 5).map(([c]) => [c, (p) => p.errors[c] || 0]);
}

function drawCharts() {
  const root = $('charts');
  for (const c of CHARTS) {
    let box = document.getElementById('chart-' + c.id);
    if (!box) {
      box = h('div', { class: 'chart', id: 'chart-' + c.id },
        h('div', { class: 'head' }, h('span', {}, c.title), h('b', {}, '')),
        document.createElementNS('http://www.w3.org/2000/svg', 'svg'),
        h('div', { class: 'legend' }),
        ...(c.note ? [h('div', { class: 'note' })] : []));
      box.querySelector('svg').setAttribute('viewBox', '0 0 300 56');
      box.querySelector('svg').setAttribute('preserveAspectRatio', 'none');
      root.append(box);
    }
    const lines = c.lines === 'errors' ? errorLines() : c.lines;
    const last = points[points.length - 1];
    const now = !last ? 0 : c.now ? c.now(last) : lines.reduce((s, l) => s + l[1](last), 0);
    box.querySelector('b').textContent = c.fmt(now);
    if (c.note) box.querySelector('.note').textContent = c.note();
    let max = 0;
    for (const p of points) for (const l of lines) max = Math.max(max, l[1](p));
    const svg = box.querySelector('svg');
    svg.replaceChildren();
    const legend = box.querySelector('.legend');
    legend.replaceChildren();
    if (lines.length === 0) legend.append('none');
    lines.forEach((l, i) => {
      const color = COLORS[i % COLORS.length];
      const n = points.length;
      // the axis is the last minute until more is known, then grows to five
      const span = Math.min(300, Math.max(60, n));
      const pts = points.map((p, j) => ((300 * (span - n + j)) / (span - 1)).toFixed(1) + ',' + (54 - (max > 0 ? (50 * l[1](p)) / max : 0)).toFixed(1));
      const pl = document.createElementNS('http://www.w3.org/2000/svg', 'polyline');
      pl.setAttribute('points', pts.join(' '));
      pl.setAttribute('fill', 'none');
      pl.setAttribute('stroke', color);
      pl.setAttribute('stroke-width', '1.5');
      pl.setAttribute('vector-effect', 'non-scaling-stroke');
      svg.append(pl);
      if (lines.length > 1 || c.lines === 'errors') legend.append(h('span', {}, h('i', { style: 'background:' + color }), l[0]));
    });
  }
}

// ---- topics ----
function drawTopics(rows, t) {
  const body = $('topics');
  body.replaceChildren();
  const seen = new Map();
  for (const r of rows) {
    const prev = lastSeq.get(r.topic);
    const rate = prev && t > prev[1] ? Math.max(0, r.seq - prev[0]) / ((t - prev[1]) / 1000) : 0;
    seen.set(r.topic, [r.seq, t]);
    body.append(h('tr', { 'data-topic': r.topic }, h('td', {}, r.topic), h('td', { class: 'num' }, si(r.subscribers)), h('td', { class: 'num' }, prev ? si(rate) : '…'), h('td', { class: 'num' }, r.seq)));
  }
  if (rows.length === 0) body.append(h('tr', {}, h('td', { colspan: '4', class: 'muted' }, searching ? 'no topic matches' : 'no topics')));
  lastSeq = seen;
}

// a search is asked again with every line (one request a second at most), so its rates stay live
let searchTimer;
let searchInFlight = false;
async function search() {
  if (searchInFlight || searching === '') return;
  searchInFlight = true;
  const q = searching;
  try {
    const res = await authed('/ops/topics?q=' + encodeURIComponent(q));
    const body = await res.json();
    if (q === searching && res.ok) drawTopics(body.topics, Date.now());
  } finally {
    searchInFlight = false;
  }
}
$('topic-search').addEventListener('input', () => {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(() => {
    const q = $('topic-search').value.trim();
    if (q !== searching) lastSeq = new Map();
    searching = q;
    search();
  }, 250);
});

// ---- users ----
$('user-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const name = $('user-name').value.trim();
  const out = $('user-results');
  if (!name) return;
  const res = await authed('/ops/user?name=' + encodeURIComponent(name));
  const body = await res.json();
  out.replaceChildren();
  if (!res.ok) return out.append(body.error || 'HTTP ' + res.status);
  const unreached = body.unreached.length ? h('p', { class: 'reason' }, 'Not asked (not answering): ' + body.unreached.join(', ')) : '';
  if (body.connections.length === 0) return out.append(h('p', {}, 'No connection of ', h('b', {}, name), ' on any node that answered.'), unreached);
  out.classList.remove('muted');
  const t = h('table', { id: 'user-table' }, h('thead', {}, h('tr', {}, h('th', {}, 'connection'), h('th', {}, 'node'), h('th', {}, 'worker'), h('th', {}, 'topics'))));
  const tb = h('tbody', {});
  for (const c of body.connections)
    tb.append(h('tr', { 'data-user-conn': String(c.conn) }, h('td', {}, c.conn), h('td', {}, c.node), h('td', {}, c.worker === null ? '-' : c.worker), h('td', {}, c.topics.join(', ') || '(none)')));
  t.append(tb);
  out.append(t, unreached);
});

start();
`;
