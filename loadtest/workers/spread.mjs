// How 10,000 loopback connections spread over N SO_REUSEPORT listeners (the kernel's 4-tuple
// hash) versus one acceptor that hands each fd to the least-loaded worker; then what a
// correlated disconnect (half of worker 0's clients leave) and the reconnects do to the spread.
//
//   node loadtest/workers/spread.mjs [--n 2,4,8] [--runs 3] [--conns 10000] [--modes reuseport,acceptor] [--drop 50]
//   (--drop 100: worker 0 dies, its clients reconnect: what a replaced worker gets)
//
// The server is spread.c (built here with cc into build/), the clients clients.mjs: two
// processes, each started with `ulimit -n 20000` and `nice -n 10`. 127.0.0.1 only.
import { spawn, execFileSync } from 'node:child_process';
import { createInterface } from 'node:readline';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import net from 'node:net';

const here = dirname(fileURLToPath(import.meta.url));
const args = Object.fromEntries(
  process.argv.slice(2).reduce((a, v, i, all) => (v.startsWith('--') ? [...a, [v.slice(2), all[i + 1]]] : a), []),
);
const Ns = (args.n ?? '2,4,8').split(',').map(Number);
const runs = Number(args.runs ?? 3);
const conns = Number(args.conns ?? 10000);
const modes = (args.modes ?? 'reuseport,acceptor').split(',');
const dropPct = Number(args.drop ?? 50); // percent of worker 0's connections that leave and come back

const bin = join(here, 'build/spread');
if (!existsSync(bin) || statSync(bin).mtimeMs < statSync(join(here, 'spread.c')).mtimeMs) {
  mkdirSync(join(here, 'build'), { recursive: true });
  execFileSync('cc', ['-O2', '-Wall', '-pthread', '-o', bin, join(here, 'spread.c')]);
}

function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

// A child speaking one line per command; ask() writes a line and waits for the next line.
function child(cmdline) {
  const p = spawn('sh', ['-c', `ulimit -n 20000 && exec nice -n 10 ${cmdline}`], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = [];
  const waiters = [];
  createInterface({ input: p.stdout }).on('line', (l) => (waiters.length ? waiters.shift()(l) : lines.push(l)));
  const next = () => new Promise((r) => (lines.length ? r(lines.shift()) : waiters.push(r)));
  return { p, next, ask: (cmd) => (p.stdin.write(cmd + '\n'), next()) };
}

const nums = (line) => line.split(' ').slice(1).map(Number);
function stats(a) {
  const mean = a.reduce((s, x) => s + x, 0) / a.length;
  const sd = Math.sqrt(a.reduce((s, x) => s + (x - mean) ** 2, 0) / a.length);
  return { min: Math.min(...a), max: Math.max(...a), mean, sd, maxOverMean: Math.max(...a) / mean };
}

const results = [];
for (const mode of modes) {
  for (const n of Ns) {
    for (let run = 1; run <= runs; run++) {
      const port = await freePort();
      const srv = child(`${bin} ${mode} ${n} ${port}`);
      await srv.next(); // "listening"
      const cli = child(`${process.execPath} ${join(here, 'clients.mjs')} ${port}`);
      const t0 = performance.now();
      const opened = await cli.ask(`open ${conns}`);
      const connectMs = performance.now() - t0;
      const initial = nums(await srv.ask('count'));
      // correlated disconnect: --drop percent of worker 0's clients leave (a worker restart, a noisy tenant)
      const dropped = nums(await srv.ask(`drop 0 ${dropPct}`))[0];
      await cli.ask('live');
      const afterDrop = nums(await srv.ask('count'));
      // ... and come back
      await cli.ask(`open ${dropped}`);
      const afterReconnect = nums(await srv.ask('count'));
      srv.p.stdin.write('quit\n');
      cli.p.stdin.write('quit\n');
      await Promise.all([new Promise((r) => srv.p.on('exit', r)), new Promise((r) => cli.p.on('exit', r))]);
      const r = { mode, n, run, opened, connectMs: Math.round(connectMs), initial, dropped, afterDrop, afterReconnect };
      results.push(r);
      const s = stats(initial),
        s2 = stats(afterReconnect);
      console.log(
        `${mode} N=${n} run ${run}: ${opened}; ${Math.round(connectMs)} ms; initial [${initial}] min ${s.min} max ${s.max} sd ${s.sd.toFixed(1)}` +
          ` | drop ${dropped} of w0 -> [${afterDrop}] | reconnect -> [${afterReconnect}] max/min ${(s2.max / s2.min).toFixed(2)}`,
      );
    }
  }
}

console.log('\nsummary (initial spread of', conns, 'connections, over', runs, 'runs)');
console.log('| mode | N | expected sd (binomial) | min | max | sd per run | max/mean worst | after drop+reconnect: w0 / others mean |');
console.log('|---|---|---|---|---|---|---|---|');
for (const mode of modes) {
  for (const n of Ns) {
    const rs = results.filter((r) => r.mode === mode && r.n === n);
    const ss = rs.map((r) => stats(r.initial));
    const exp = Math.sqrt(conns * (1 / n) * (1 - 1 / n));
    const w0 = rs.map((r) => r.afterReconnect[0]);
    const others = rs.map((r) => stats(r.afterReconnect.slice(1)).mean);
    console.log(
      `| ${mode} | ${n} | ${mode === 'reuseport' ? exp.toFixed(1) : '-'} | ${Math.min(...ss.map((s) => s.min))} | ${Math.max(...ss.map((s) => s.max))} | ` +
        `${ss.map((s) => s.sd.toFixed(1)).join(', ')} | ${Math.max(...ss.map((s) => s.maxOverMean)).toFixed(3)} | ` +
        `${w0.join(', ')} / ${others.map((x) => x.toFixed(0)).join(', ')} |`,
    );
  }
}
console.log('\nJSON ' + JSON.stringify(results));
