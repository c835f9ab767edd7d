// A real redis-server of our own: a free port on 127.0.0.1, a temporary dir, no config file, never
// a system instance. The broker tests (test/helpers/redis.ts) and the broker benchmark both use
// it: one place knows how to start, kill, restart and read Redis, so tests and bench see the same
// server. Every wait is bounded; close() leaves no process and no dir behind.
import { spawn } from 'node:child_process';
import { copyFile, mkdtemp, rm, unlink } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { freePort } from './server.mjs';

/** Bounds, ms. Loading a test's dump.rdb takes milliseconds; 5 s means it is not coming up. */
const READY_TIMEOUT_MS = 5000;
const EXIT_TIMEOUT_MS = 5000;
const COMMAND_TIMEOUT_MS = 5000;
/** redis-server output kept for the error message of a failed start, bytes. */
const OUTPUT_TAIL = 8192;

/**
 * Debian's redis.conf save points (seconds changes ...), for `start({ save: true })`: a test of
 * "Redis restarted from the snapshot it wrote by itself" runs against what production has.
 */
const DEBIAN_SAVE_POINTS = '3600 1 300 100 60 10000';

/** One PING on a fresh socket: true on +PONG (not -LOADING, not refused), within timeoutMs. */
function pings(port, timeoutMs) {
  return new Promise((resolve) => {
    const s = net.connect({ port, host: '127.0.0.1' });
    let reply = '';
    const done = (ok) => {
      clearTimeout(timer);
      s.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    s.once('connect', () => s.write('PING\r\n'));
    s.on('data', (d) => {
      reply += d;
      if (reply.includes('\r\n')) done(reply.startsWith('+PONG'));
    });
    s.once('error', () => done(false));
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** `INFO` text -> { field: value } (strings; section headers and blank lines skipped). */
export function parseInfo(text) {
  const out = {};
  for (const line of text.split('\r\n')) {
    if (!line || line.startsWith('#')) continue;
    const colon = line.indexOf(':');
    if (colon > 0) out[line.slice(0, colon)] = line.slice(colon + 1);
  }
  return out;
}

/**
 * `INFO commandstats` -> { command: { calls, usec } }. Subcommands keep Redis 7's names
 * (`client|setname`, `config|get`), scripts show as `evalsha` / `fcall`.
 */
export function parseCommandStats(text) {
  const out = {};
  for (const [field, value] of Object.entries(parseInfo(text))) {
    if (!field.startsWith('cmdstat_')) continue;
    const kv = Object.fromEntries(value.split(',').map((p) => p.split('=')));
    out[field.slice('cmdstat_'.length)] = { calls: Number(kv.calls), usec: Number(kv.usec) };
  }
  return out;
}

export class RedisServer {
  /** @type {import('node:child_process').ChildProcess | undefined} */
  #child;
  /** @type {Promise<void> | undefined} resolves when the current process has exited */
  #exited;
  #output = '';
  /** @type {Redis | undefined} our own connection for SAVE, INFO, SHUTDOWN */
  #admin;
  /** @type {Redis[]} handed out by client(), closed by close() */
  #clients = [];
  #snapshots = 0;
  #closed = false;
  /** Debian's automatic save points on (start({ save: true })) or none */
  #autoSave;
  /** append-only file with fsync on every write (start({ aof: true })): a SIGKILL loses nothing acknowledged */
  #aof;

  /** @param {number} port @param {string} dir @param {boolean} autoSave @param {boolean} aof */
  constructor(port, dir, autoSave, aof = false) {
    this.port = port;
    this.dir = dir;
    this.url = `redis://127.0.0.1:${port}`;
    this.#autoSave = autoSave;
    this.#aof = aof;
  }

  /**
   * Starts redis-server on a free port with its own temp dir. save: false (default) writes
   * dump.rdb only on save()/snapshot(); true keeps Debian's automatic save points.
   * aof: true turns on the append-only file with appendfsync always.
   * @param {{ save?: boolean, aof?: boolean }} [opts]
   */
  static async start(opts = {}) {
    const dir = await mkdtemp(path.join(tmpdir(), 'ringcast-redis-'));
    // A free port can be taken between our probe and redis's bind: try a few.
    let lastError;
    for (let attempt = 0; attempt < 3; attempt++) {
      const server = new RedisServer(await freePort(), dir, opts.save ?? false, opts.aof ?? false);
      try {
        await server.#spawn();
        return server;
      } catch (err) {
        lastError = err;
        if (!/Address already in use/.test(String(err))) break;
      }
    }
    await rm(dir, { recursive: true, force: true });
    throw lastError;
  }

  get pid() {
    return this.#child?.pid;
  }

  /** The process is up (it may still be loading). False after kill(), stop() or a crash. */
  get running() {
    return this.#child !== undefined && this.#child.exitCode === null && this.#child.signalCode === null;
  }

  async #spawn() {
    if (this.#closed) throw new Error('redis: start after close()');
    const args = [
      '--port',
      String(this.port),
      '--bind',
      '127.0.0.1',
      '--dir',
      this.dir,
      '--dbfilename',
      'dump.rdb',
      '--save',
      this.#autoSave ? DEBIAN_SAVE_POINTS : '',
      '--appendonly',
      this.#aof ? 'yes' : 'no',
      '--appendfsync',
      'always',
      '--protected-mode',
      'no',
      '--daemonize',
      'no',
      '--logfile',
      '',
      '--loglevel',
      'warning',
    ];
    this.#output = '';
    const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const keep = (d) => {
      this.#output = (this.#output + d).slice(-OUTPUT_TAIL);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    let exitedEarly = false;
    this.#exited = new Promise((resolve) => {
      child.once('exit', () => {
        exitedEarly = true;
        resolve();
      });
      child.once('error', (err) => {
        keep(`spawn redis-server: ${err.message}\n`);
        exitedEarly = true;
        resolve();
      });
    });
    this.#child = child;
    const deadline = Date.now() + READY_TIMEOUT_MS;
    while (!exitedEarly && Date.now() < deadline) {
      if (await pings(this.port, 500)) return;
      await sleep(20);
    }
    const why = exitedEarly ? 'exited during startup' : `did not answer PING within ${READY_TIMEOUT_MS} ms`;
    await this.kill();
    throw new Error(`redis-server on port ${this.port} ${why}:\n${this.#output.trim()}`);
  }

  /** Our admin connection to the current process (no retries: it fails fast while Redis is down). */
  #adminClient() {
    if (this.#admin) return this.#admin;
    const admin = new Redis({
      port: this.port,
      host: '127.0.0.1',
      enableOfflineQueue: true,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
      commandTimeout: COMMAND_TIMEOUT_MS,
    });
    admin.on('error', () => {}); // the failed command carries the error
    // Redis went away under us (a test killed it some other way): connect afresh next time.
    admin.once('end', () => {
      if (this.#admin === admin) this.#admin = undefined;
    });
    return (this.#admin = admin);
  }

  #dropAdmin() {
    this.#admin?.disconnect();
    this.#admin = undefined;
  }

  /** One command on the admin connection, e.g. call('DBSIZE'). */
  call(command, ...args) {
    if (!this.running) return Promise.reject(new Error(`redis: ${command} while the server is not running`));
    return this.#adminClient().call(command, ...args);
  }

  async #waitExit() {
    const exited = this.#exited;
    if (!exited) return;
    let timer;
    const timedOut = await Promise.race([
      exited.then(() => false),
      new Promise((r) => (timer = setTimeout(() => r(true), EXIT_TIMEOUT_MS))),
    ]);
    clearTimeout(timer);
    if (timedOut) {
      this.#child?.kill('SIGKILL');
      await exited;
    }
    this.#child = undefined;
    this.#exited = undefined;
  }

  /** SIGKILL: a crash, nothing saved. Resolves once the process is gone. */
  async kill() {
    this.#dropAdmin();
    this.#child?.kill('SIGKILL');
    await this.#waitExit();
  }

  /** Graceful: SHUTDOWN NOSAVE (clients see the connection closed), SIGKILL if it hangs. */
  async stop() {
    if (!this.#child) return;
    // The reply never comes: the server closes the connection as it exits.
    await this.call('SHUTDOWN', 'NOSAVE').catch(() => {});
    this.#dropAdmin();
    await this.#waitExit();
  }

  /** Starts again on the same port and dir; loads dump.rdb if there is one. */
  async restart() {
    if (this.#child) await this.kill();
    await this.#spawn();
  }

  /** Starts again with no data: a restart without persistence. */
  async restartEmpty() {
    if (this.#child) await this.kill();
    await unlink(path.join(this.dir, 'dump.rdb')).catch(() => {});
    await rm(path.join(this.dir, 'appendonlydir'), { recursive: true, force: true });
    await this.#spawn();
  }

  /** SAVE: dump.rdb now holds the current data set. */
  async save() {
    await this.call('SAVE');
  }

  /** SAVE, then keep a copy of dump.rdb in the dir; resolves with the copy's path. */
  async snapshot() {
    await this.save();
    const file = path.join(this.dir, `snapshot-${++this.#snapshots}.rdb`);
    await copyFile(path.join(this.dir, 'dump.rdb'), file);
    return file;
  }

  /** Redis restarted from an older snapshot: kill, put the snapshot back as dump.rdb, start. */
  async restoreSnapshot(file) {
    await this.kill();
    await copyFile(file, path.join(this.dir, 'dump.rdb'));
    await this.#spawn();
  }

  /**
   * INFO [section] parsed into { field: value }.
   * @param {string} [section]
   * @returns {Promise<Record<string, string>>}
   */
  async info(section) {
    return parseInfo(await this.call('INFO', ...(section ? [section] : [])));
  }

  /** Redis's run_id: a new one on every start, whatever the data. */
  async runId() {
    return (await this.info('server')).run_id;
  }

  /**
   * Calls and microseconds per command since start or resetStats(). INFO itself is counted.
   * @returns {Promise<Record<string, { calls: number, usec: number }>>}
   */
  async commandStats() {
    return parseCommandStats(await this.call('INFO', 'commandstats'));
  }

  /** CONFIG RESETSTAT: zeroes commandstats (not used_cpu_*). */
  async resetStats() {
    await this.call('CONFIG', 'RESETSTAT');
  }

  /** CPU seconds the server process used since it started (used_cpu_sys + used_cpu_user). */
  async cpuSeconds() {
    const cpu = await this.info('cpu');
    return Number(cpu.used_cpu_sys) + Number(cpu.used_cpu_user);
  }

  /**
   * An ioredis client for assertions. It reconnects across restarts (ioredis's defaults) unless
   * options say otherwise; close() disconnects it.
   * @param {import('ioredis').RedisOptions} [options]
   */
  client(options = {}) {
    const c = new Redis({ port: this.port, host: '127.0.0.1', ...options });
    // A test that kills Redis expects its clients to see errors; do not let them crash the run.
    c.on('error', () => {});
    this.#clients.push(c);
    return c;
  }

  /** Disconnects every client, kills the process, removes the dir. Safe to call twice. */
  async close() {
    if (this.#closed) return;
    this.#closed = true;
    for (const c of this.#clients.splice(0)) c.disconnect();
    await this.kill();
    await rm(this.dir, { recursive: true, force: true });
  }
}
