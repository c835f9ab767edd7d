// Everything a fresh clone needs before measuring: the peers installed, the generator built,
// ringcast built, and the versions the report names.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';

export const LOADTEST = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const REPO = path.resolve(LOADTEST, '..');
export const PEERS = path.join(LOADTEST, 'peers');
export const LOADGEN = path.join(LOADTEST, 'build', 'ringcast-loadgen');

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', ...opts });
  // npm's warnings about the local npmrc say nothing about the command's own outcome.
  const out = `${r.stdout ?? ''}${r.stderr ?? ''}`
    .split('\n')
    .filter((l) => !l.startsWith('npm warn'))
    .join('\n');
  return { ok: r.status === 0, out: out.trim() };
}

/** Builds the generator when missing or older than its sources (make decides). */
/** A bench script's usage: its header comment, printed for --help. */
export function usage(scriptUrl) {
  const header = readFileSync(new URL(scriptUrl), 'utf8')
    .split('\n')
    .slice(1)
    .filter((l) => l.startsWith('//'));
  return header.map((l) => l.replace(/^\/\/ ?/, '')).join('\n');
}

/**
 * --help and --report-from, answered alike by every bench: true when one of them was (the bench
 * then runs nothing). `render` turns the --report-from value into the report's path.
 */
export function answeredWithoutRunning(args, scriptUrl, log, render) {
  if (args.help) {
    console.log(usage(scriptUrl));
    return true;
  }
  if (args['report-from']) {
    log(`report: ${render(args['report-from'])}`);
    return true;
  }
  return false;
}

/**
 * A bench script's flags: the options every bench takes (--scenarios, --repeats, --no-report,
 * --report-from, --help) plus its own; a bad flag prints one line and exits 2.
 */
export function benchArgs(name, own) {
  try {
    return parseArgs({
      options: {
        ...own,
        scenarios: { type: 'string' },
        repeats: { type: 'string' },
        'no-report': { type: 'boolean', default: false },
        'report-from': { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }).values;
  } catch (err) {
    console.error(`${name}: ${err.message} (see --help)`);
    process.exit(2);
  }
}

/** The entries of `all` whose `key` is in the comma-separated `list` (all when none is given). */
export function pick(all, list, key) {
  if (!list) return all;
  const wanted = list.split(',');
  const unknown = wanted.filter((w) => !all.some((x) => x[key] === w));
  if (unknown.length) throw new Error(`unknown ${key}: ${unknown.join(', ')}`);
  return all.filter((x) => wanted.includes(x[key]));
}

export function buildLoadgen(log = console.error) {
  const r = run('make', ['-s', '-C', LOADTEST]);
  if (!r.ok) throw new Error(`building the load generator failed:\n${r.out}`);
  log(`loadgen: ${LOADGEN}`);
  return LOADGEN;
}

/** Installs ws, bun, autocannon and ioredis into loadtest/peers once (npm ci from its lockfile). */
export function installPeers(log = console.error) {
  const installed = ['ws', 'autocannon', 'ioredis'].every((p) => existsSync(path.join(PEERS, 'node_modules', p, 'package.json')));
  if (!installed) {
    log('peers: installing ws, bun, autocannon, ioredis into loadtest/peers');
    const lock = existsSync(path.join(PEERS, 'package-lock.json'));
    const r = run('npm', [lock ? 'ci' : 'install', '--no-audit', '--no-fund'], { cwd: PEERS });
    if (!r.ok) throw new Error(`npm install in loadtest/peers failed:\n${r.out}`);
  }
}

function isRealBinary(file) {
  // bun's package ships a small placeholder that its postinstall replaces with the binary.
  return existsSync(file) && statSync(file).size > 1e6;
}

/**
 * The bun executable, or null with a reason. Where npm ran bun's postinstall (approved in
 * peers/package.json "allowScripts"), node_modules/bun/bin/bun.exe is the binary; where it did
 * not, the platform package @oven/bun-linux-x64* still holds it in bin/bun.
 */
export function findBun() {
  const candidates = [path.join(PEERS, 'node_modules', 'bun', 'bin', 'bun.exe')];
  const oven = path.join(PEERS, 'node_modules', '@oven');
  if (existsSync(oven)) {
    for (const dir of readdirSync(oven)
      .filter((d) => d.startsWith('bun-linux-x64'))
      .sort()) {
      candidates.push(path.join(oven, dir, 'bin', 'bun'));
    }
  }
  for (const file of candidates) {
    if (!isRealBinary(file)) continue;
    const r = run(file, ['--version']);
    if (r.ok) return { bin: file, version: r.out };
  }
  return { bin: null, reason: `no runnable bun binary in ${candidates.join(', ')}` };
}

/** Node flags of the repo's `npm start` (node FLAGS dist/server/cli.js): ringcast runs as users start it. */
export function nodeFlags() {
  const start = JSON.parse(readFileSync(path.join(REPO, 'package.json'), 'utf8'))
    .scripts.start.trim()
    .split(/\s+/);
  if (start[0] !== 'node' || start[start.length - 1] !== 'dist/server/cli.js') {
    throw new Error(`package.json start is not "node [flags] dist/server/cli.js": ${start.join(' ')}`);
  }
  return start.slice(1, -1);
}

/**
 * ringcast's CLI: this checkout's dist/server/cli.js, building it with tsc when missing, or
 * `override` (a bench's --ringcast-cli: another checkout's build, run with this one's node flags;
 * RINGCAST_ADDON in the environment reaches it, as it reaches every server started).
 */
export function findRingcast(log = console.error, override = undefined) {
  const cli = override ? path.resolve(override) : path.join(REPO, 'dist', 'server', 'cli.js');
  if (override)
    log(`ringcast: ${cli} (--ringcast-cli)${process.env.RINGCAST_ADDON ? `, RINGCAST_ADDON=${process.env.RINGCAST_ADDON}` : ''}`);
  if (!override && !existsSync(cli)) {
    log('ringcast: dist/ missing, running tsc -p tsconfig.json');
    const r = run('npx', ['--no-install', 'tsc', '-p', 'tsconfig.json'], { cwd: REPO });
    if (!r.ok || !existsSync(cli)) {
      return { cli: null, reason: `not built (run npm ci at the repo root): tsc said ${r.out.split('\n')[0] || 'nothing'}` };
    }
  }
  const r = run('node', [cli, '--help']);
  return r.ok ? { cli, nodeFlags: nodeFlags() } : { cli: null, reason: `node ${cli} --help failed: ${r.out.split('\n')[0]}` };
}

/**
 * What ringcast build a run measured: the checkout the CLI is in (dist/server/cli.js, three levels
 * down), its commit and whether server/ or native/ have uncommitted changes, and the addon.
 */
export function ringcastSource(cli) {
  const root = path.resolve(path.dirname(cli), '..', '..');
  const git = (args) => run('git', ['-C', root, ...args]);
  const head = git(['rev-parse', '--short', 'HEAD']);
  return {
    cli,
    checkout: root,
    commit: head.ok ? head.out : 'unknown',
    dirty: head.ok ? git(['status', '--porcelain', '--', 'server', 'native']).out !== '' : null,
    addon: process.env.RINGCAST_ADDON || path.join(root, 'native', 'build', 'Release', 'ringcast.node'),
  };
}

function packageVersion(dir) {
  try {
    return JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')).version;
  } catch {
    return 'missing';
  }
}

export function machineInfo(bunVersion) {
  const git = (args) => run('git', ['-C', REPO, ...args]).out;
  const cpus = os.cpus();
  return {
    date: new Date().toISOString(),
    commit: git(['rev-parse', '--short', 'HEAD']),
    dirty: git(['status', '--porcelain', '--', 'server', 'native', 'loadtest/src']) !== '',
    cpu: cpus[0]?.model ?? 'unknown',
    cores: cpus.length,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    kernel: execFileSync('uname', ['-sr']).toString().trim(),
    node: process.version,
    bun: bunVersion ?? 'unavailable',
    ws: packageVersion(path.join(PEERS, 'node_modules', 'ws')),
    autocannon: packageVersion(path.join(PEERS, 'node_modules', 'autocannon')),
    ringcast: packageVersion(REPO),
    ringcastNodeFlags: nodeFlags(),
    nofile: Number(run('sh', ['-c', 'ulimit -Hn']).out) || null,
  };
}
