// One ringcast node under the soak: `node dist/server/cli.js --workers 2 --broker redis://...` on a
// fixed port (clients reconnect to the same address after a restart), optionally under a lower
// RLIMIT_NOFILE through prlimit(1). It knows whether the harness meant it to exit; an exit the
// schedule did not cause is reported as a crash. Samples RSS and open fds from /proc.
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const CLI = path.join(ROOT, 'dist/server/cli.js');
const START_TIMEOUT_MS = 60_000;
const EXIT_TIMEOUT_MS = 20_000;
const LOG_TAIL = 40;

async function livez(base) {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), 1000);
  try {
    return (await fetch(`${base}/livez`, { signal: ac.signal })).status === 200;
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}

export class SoakNode {
  /** @type {import('node:child_process').ChildProcess | undefined} */
  #child;
  #exited;
  #expectExit = false;
  /** last log lines (stdout and stderr), for a violation's evidence */
  tail = [];
  /** log lines at level error (50) or fatal (60), counted over the run */
  errorLines = 0;
  /** the first few of them */
  errorSamples = [];
  starts = 0;

  /**
   * @param {{ name: string, port: number, transport: string, args: string[], nofile?: number,
   *   onCrash: (why: string) => void }} opts
   */
  constructor(opts) {
    this.name = opts.name;
    this.port = opts.port;
    this.transport = opts.transport;
    this.args = opts.args;
    this.nofile = opts.nofile;
    this.onCrash = opts.onCrash;
    this.url = `ws://127.0.0.1:${opts.port}/ws`;
    this.http = `http://127.0.0.1:${opts.port}`;
  }

  get pid() {
    return this.#child?.pid;
  }

  get running() {
    return this.#child !== undefined && this.#child.exitCode === null && this.#child.signalCode === null;
  }

  #log(line) {
    this.tail.push(line);
    if (this.tail.length > LOG_TAIL) this.tail.shift();
    if (/"level":(50|60)/.test(line) || line.startsWith('ringcast:')) {
      this.errorLines++;
      if (this.errorSamples.length < 10) this.errorSamples.push(line.slice(0, 600));
    }
  }

  async start() {
    const node = [process.execPath, CLI, '--host', '127.0.0.1', '--port', String(this.port), '--transport', this.transport, ...this.args];
    const argv = this.nofile === undefined ? node : ['prlimit', `--nofile=${this.nofile}:${this.nofile}`, '--', ...node];
    this.#expectExit = false;
    const child = spawn(argv[0], argv.slice(1), {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, RINGCAST_FAULT_INJECTION: '1' },
    });
    this.#child = child;
    this.starts++;
    let exited = false;
    let partial = '';
    const onData = (d) => {
      partial += d;
      const lines = partial.split('\n');
      partial = lines.pop();
      for (const line of lines) {
        this.#log(line);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    this.#exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        exited = true;
        if (!this.#expectExit) this.onCrash(`${this.name} exited by itself (code ${code}, signal ${signal})`);
        resolve({ code, signal });
      });
    });
    // --log-level warn prints no listening line: /livez answering is the sign
    const deadline = Date.now() + START_TIMEOUT_MS;
    let ok = false;
    while (!ok && !exited && Date.now() < deadline) {
      ok = await livez(this.http);
      if (!ok) await new Promise((r) => setTimeout(r, 100));
    }
    if (!ok) {
      await this.kill();
      throw new Error(`${this.name} did not listen:\n${this.tail.join('\n')}`);
    }
  }

  /** Sends a signal the schedule chose; `ends` says whether the process is expected to exit from it. */
  signal(sig, ends) {
    if (ends) this.#expectExit = true;
    this.#child?.kill(sig);
  }

  /** SIGTERM: drain, resolves with the exit code once it is gone (SIGKILL past the timeout). */
  async drain() {
    this.signal('SIGTERM', true);
    return this.#waitExit();
  }

  async kill() {
    this.signal('SIGKILL', true);
    return this.#waitExit();
  }

  async #waitExit() {
    if (!this.#exited) return undefined;
    let timer;
    const r = await Promise.race([this.#exited, new Promise((res) => (timer = setTimeout(() => res(undefined), EXIT_TIMEOUT_MS)))]);
    clearTimeout(timer);
    if (r === undefined) {
      this.#child?.kill('SIGKILL');
      return { code: null, signal: 'SIGKILL', timedOut: true, ...(await this.#exited) };
    }
    return r;
  }

  /** RSS in bytes and open fds, from /proc; undefined when it is not running. */
  procSample() {
    const pid = this.pid;
    if (pid === undefined || !this.running) return undefined;
    try {
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      const rss = Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? NaN) * 1024;
      const fds = readdirSync(`/proc/${pid}/fd`).length;
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const cpuTicks = Number(f[11]) + Number(f[12]);
      return { rss, fds, cpuTicks };
    } catch {
      return undefined;
    }
  }
}
