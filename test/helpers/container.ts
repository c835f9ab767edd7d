// Builds the image and runs containers of it with podman (or docker) for test/container.test.ts.
// Every container is named `ringcast-test-<pid>-<n>` and publishes its port on 127.0.0.1 only;
// removeAll() removes every one this process started, whatever state it is in.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';

export const BASE_IMAGE = 'docker.io/library/node:20-bookworm-slim';

export interface Engine {
  cmd: 'podman' | 'docker';
  env: NodeJS.ProcessEnv;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * podman or docker, or the reason neither can run containers here. podman uses the storage and
 * containers.conf that ../shared/tools/container-env.sh prepared (its export lines, or the state
 * it left under RINGCAST_CONTAINERS, default /var/tmp/containers): on this kind of host podman's
 * own defaults fail (nofile ulimit, crun).
 */
export function findEngine(): { engine?: Engine; reason?: string } {
  if (process.env.RINGCAST_CONTAINER_TEST === '0') return { reason: 'RINGCAST_CONTAINER_TEST=0' };
  const tried: string[] = [];
  for (const cmd of ['podman', 'docker'] as const) {
    const env = cmd === 'podman' ? podmanEnv() : { ...process.env };
    const r = spawnSync(cmd, ['info'], { env, encoding: 'utf8', timeout: 60_000 });
    if (r.error) {
      tried.push(`${cmd}: not installed`);
      continue;
    }
    if (r.status === 0) return { engine: { cmd, env } };
    tried.push(`${cmd} info failed: ${lastLine(r.stderr)}`);
  }
  return { reason: `no container engine (${tried.join('; ')}); eval "$(../shared/tools/container-env.sh)" installs podman` };
}

function podmanEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  const state = env.RINGCAST_CONTAINERS ?? '/var/tmp/containers';
  if (!env.CONTAINERS_CONF && existsSync(join(state, 'containers.conf'))) {
    env.CONTAINERS_CONF = join(state, 'containers.conf');
    env.CONTAINERS_STORAGE_CONF = join(state, 'storage.conf');
    env.TMPDIR = join(state, 'tmp');
  }
  return env;
}

const lastLine = (s: string) => s.trim().split('\n').pop() ?? '';

/** Runs the engine with `args`; never rejects on a non-zero exit (the caller checks `code`). */
export function run(engine: Engine, args: string[], options: { nice?: boolean } = {}): Promise<RunResult> {
  const [cmd, argv] = options.nice ? ['nice', ['-n', '10', engine.cmd, ...args]] : [engine.cmd, args];
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, argv, { env: engine.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

async function mustRun(engine: Engine, args: string[], options: { nice?: boolean } = {}): Promise<string> {
  const r = await run(engine, args, options);
  if (r.code !== 0) {
    const tail = (r.stdout + r.stderr).trim().split('\n').slice(-30).join('\n');
    throw new Error(`${engine.cmd} ${args.join(' ')} exited ${r.code}:\n${tail}`);
  }
  return r.stdout;
}

/**
 * Builds the Dockerfile in `context` as `tag`. Where the base image is already local (podman with
 * container-env.sh's stand-ins) nothing is pulled.
 */
export async function buildImage(engine: Engine, context: string, tag: string): Promise<void> {
  const args = ['build', '-t', tag];
  if (engine.cmd === 'podman') {
    // docker format keeps HEALTHCHECK and STOPSIGNAL in the image config
    args.push('--format', 'docker');
    if ((await run(engine, ['image', 'exists', BASE_IMAGE])).code === 0) args.push('--pull=never');
  }
  await mustRun(engine, [...args, context], { nice: true });
}

/** A TCP port that was free on 127.0.0.1 a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

export type LogLine = Record<string, unknown> & { event?: string };

export interface RunOptions {
  /** a seccomp profile file; omitted = the engine's default profile */
  seccomp?: string;
  env?: Record<string, string>;
  /** more `run` options, e.g. --read-only */
  args?: string[];
}

const started = new Set<string>();
let counter = 0;

export class Container {
  private constructor(
    readonly engine: Engine,
    readonly name: string,
    readonly port: number,
  ) {}

  get http(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  wsUrl(query = ''): string {
    return `ws://127.0.0.1:${this.port}/ws${query}`;
  }

  /** Starts `image` detached with its port 8080 published on 127.0.0.1:<free port>. */
  static async start(engine: Engine, image: string, options: RunOptions = {}): Promise<Container> {
    const name = `ringcast-test-${process.pid}-${++counter}`;
    const port = await freePort();
    const args = ['run', '-d', '--name', name, '--label', 'ringcast-test=1', '-p', `127.0.0.1:${port}:8080`];
    if (options.seccomp) args.push('--security-opt', `seccomp=${options.seccomp}`);
    for (const [k, v] of Object.entries(options.env ?? {})) args.push('-e', `${k}=${v}`);
    args.push(...(options.args ?? []));
    started.add(name);
    await mustRun(engine, [...args, image]);
    return new Container(engine, name, port);
  }

  /** The server's stdout, parsed as JSON lines (anything else is skipped). */
  async logs(): Promise<LogLine[]> {
    const r = await run(this.engine, ['logs', this.name]);
    const out: LogLine[] = [];
    for (const line of r.stdout.split('\n')) {
      if (!line.startsWith('{')) continue;
      try {
        out.push(JSON.parse(line) as LogLine);
      } catch {
        // a partial line while the server is still writing
      }
    }
    return out;
  }

  /** The first log line with `event`, waiting for it up to `ms` (the container's state in the error). */
  async waitForEvent(event: string, ms = 60_000): Promise<LogLine> {
    const deadline = Date.now() + ms;
    for (;;) {
      const line = (await this.logs()).find((l) => l.event === event);
      if (line) return line;
      const state = await this.state();
      if (state.status === 'exited' || Date.now() > deadline) {
        const r = await run(this.engine, ['logs', this.name]);
        throw new Error(`${this.name}: no "${event}" log line (${state.status}, exit ${state.exitCode}):\n${r.stdout}${r.stderr}`);
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  async exec(...cmd: string[]): Promise<string> {
    return mustRun(this.engine, ['exec', this.name, ...cmd]);
  }

  async state(): Promise<{ status: string; exitCode: number }> {
    const out = await mustRun(this.engine, ['inspect', '--format', '{{.State.Status}} {{.State.ExitCode}}', this.name]);
    const [status, code] = out.trim().split(' ');
    return { status: status ?? '', exitCode: Number(code) };
  }

  /** `stop`: SIGTERM (the image's STOPSIGNAL), SIGKILL after `graceSeconds`. */
  stop(graceSeconds = 30): Promise<RunResult> {
    return run(this.engine, ['stop', '-t', String(graceSeconds), this.name]);
  }

  /** Blocks until the container has exited; its exit code. */
  async wait(): Promise<number> {
    return Number((await mustRun(this.engine, ['wait', this.name])).trim());
  }
}

/** `run --rm` to completion (named and tracked, so removeAll() catches one that hangs). */
export function runOnce(engine: Engine, image: string, args: string[], command: string[] = []): Promise<RunResult> {
  const name = `ringcast-test-${process.pid}-${++counter}`;
  started.add(name);
  return run(engine, ['run', '--rm', '--name', name, ...args, image, ...command]);
}

/** Removes every container this process started (running or not); never throws. */
export async function removeAll(engine: Engine): Promise<void> {
  // one at a time: `rm -f a b` stops at a name that is already gone (the `--rm` ones)
  for (const name of started) await run(engine, ['rm', '-f', name]);
  started.clear();
}
