// The soak's redis-server: a free port, a temp dir, an append-only file, and the faults
// the schedule needs: SIGKILL then restart with the AOF (at most the last second is lost), SIGKILL then
// restart from an older RDB without the AOF (recent writes lost), restart empty, SIGSTOP/SIGCONT.
// loadtest/lib/redis.mjs fixes persistence at start; these faults switch it per restart. fsync is
// everysec (a disk-backed /tmp cannot fsync every write at soak rates): a SIGKILL may lose the
// last second, which the server must then report as a gap like any other loss.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort } from '../lib/server.mjs';
import { parseInfo, redisCommand } from './resp.mjs';

const READY_TIMEOUT_MS = 20_000;
const EXIT_TIMEOUT_MS = 10_000;
const OUTPUT_TAIL = 4096;
/** A safety cap, far above what a correct server lets clients store: a leak fills it instead of the machine. */
const MAX_MEMORY = 768 * 1024 * 1024;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export class SoakRedis {
  /** @type {import('node:child_process').ChildProcess | undefined} */
  #child;
  #exited;
  #output = '';
  /** set before the harness kills it; an exit without it is a crash */
  #expectExit = false;
  paused = false;

  /** @param {number} port @param {string} dir @param {(why: string) => void} onCrash */
  constructor(port, dir, onCrash) {
    this.port = port;
    this.dir = dir;
    this.url = `redis://127.0.0.1:${port}`;
    this.onCrash = onCrash;
  }

  static async start(onCrash) {
    const dir = await mkdtemp(path.join(tmpdir(), 'ringcast-soak-redis-'));
    const r = new SoakRedis(await freePort(), dir, onCrash);
    await r.#spawn({ aof: true });
    return r;
  }

  get pid() {
    return this.#child?.pid;
  }

  get running() {
    return this.#child !== undefined && this.#child.exitCode === null && this.#child.signalCode === null;
  }

  async #spawn({ aof }) {
    // prettier-ignore
    const args = ['--port', String(this.port), '--bind', '127.0.0.1', '--dir', this.dir, '--dbfilename', 'dump.rdb',
      '--save', '', '--appendonly', aof ? 'yes' : 'no', '--appendfsync', 'everysec', '--protected-mode', 'no',
      '--daemonize', 'no', '--logfile', '', '--loglevel', 'warning', '--maxmemory', String(MAX_MEMORY), '--maxmemory-policy', 'noeviction'];
    this.#output = '';
    this.#expectExit = false;
    const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const keep = (d) => (this.#output = (this.#output + d).slice(-OUTPUT_TAIL));
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    this.#exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        if (!this.#expectExit)
          this.onCrash(`redis-server exited by itself (code ${code}, signal ${signal}): ${this.#output.trim().slice(-500)}`);
        resolve();
      });
    });
    this.#child = child;
    const deadline = Date.now() + READY_TIMEOUT_MS;
    while (this.running && Date.now() < deadline) {
      const pong = await redisCommand(this.port, ['PING'], 500).catch(() => undefined);
      if (pong === 'PONG') return;
      await sleep(25);
    }
    throw new Error(`redis-server on port ${this.port} did not start: ${this.#output.trim()}`);
  }

  async #stop(signal) {
    if (!this.#child) return;
    this.#expectExit = true;
    if (this.paused) this.resume();
    this.#child.kill(signal);
    let timer;
    const timedOut = await Promise.race([
      this.#exited.then(() => false),
      new Promise((r) => (timer = setTimeout(() => r(true), EXIT_TIMEOUT_MS))),
    ]);
    clearTimeout(timer);
    if (timedOut) {
      this.#child.kill('SIGKILL');
      await this.#exited;
    }
    this.#child = undefined;
  }

  /** SIGKILL (a crash); resolves once it is gone. */
  kill() {
    return this.#stop('SIGKILL');
  }

  /** Starts again on the same port and dir with its AOF: every acknowledged write comes back. */
  restartWithAof() {
    return this.#spawn({ aof: true });
  }

  /**
   * Starts again from dump.rdb alone (the last save()), as a server without AOF would after a
   * crash: the writes since that save are lost. AOF is switched on again once it is up.
   */
  async restartFromSnapshot() {
    await rm(path.join(this.dir, 'appendonlydir'), { recursive: true, force: true });
    await this.#spawn({ aof: false });
    await this.command(['CONFIG', 'SET', 'appendonly', 'yes']);
  }

  /** Starts again with no data at all. */
  async restartEmpty() {
    await rm(path.join(this.dir, 'appendonlydir'), { recursive: true, force: true });
    await rm(path.join(this.dir, 'dump.rdb'), { force: true });
    await this.#spawn({ aof: true });
  }

  hasSnapshot() {
    return existsSync(path.join(this.dir, 'dump.rdb'));
  }

  pause() {
    this.#child?.kill('SIGSTOP');
    this.paused = true;
  }

  resume() {
    this.#child?.kill('SIGCONT');
    this.paused = false;
  }

  command(args, timeoutMs = 5000) {
    return redisCommand(this.port, args, timeoutMs);
  }

  /** INFO memory's used_memory and used_memory_dataset in bytes, or undefined while it does not answer. */
  async memory() {
    if (!this.running || this.paused) return undefined;
    const text = await redisCommand(this.port, ['INFO', 'memory'], 1000).catch(() => undefined);
    if (text === undefined) return undefined;
    const info = parseInfo(text);
    return { used: Number(info.used_memory), dataset: Number(info.used_memory_dataset) };
  }

  /** Keys matching `pattern` (SCAN, so Redis is never blocked), or undefined when it does not answer. */
  async countKeys(pattern) {
    if (!this.running || this.paused) return undefined;
    let cursor = '0';
    let n = 0;
    try {
      do {
        const [next, keys] = await redisCommand(this.port, ['SCAN', cursor, 'MATCH', pattern, 'COUNT', '1000'], 2000);
        cursor = next;
        n += keys.length;
      } while (cursor !== '0');
    } catch {
      return undefined;
    }
    return n;
  }

  async dbsize() {
    if (!this.running || this.paused) return undefined;
    return redisCommand(this.port, ['DBSIZE'], 1000).catch(() => undefined);
  }

  async close() {
    await this.#stop('SIGKILL');
    await rm(this.dir, { recursive: true, force: true });
  }
}
