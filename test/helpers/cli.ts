// Runs the built CLI (dist/server/cli.js) as a user does and follows its JSON log lines.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach } from 'vitest';

export const CLI = fileURLToPath(new URL('../../dist/server/cli.js', import.meta.url));

/**
 * The environment without ringcast settings, so a developer's RINGCAST_* cannot change a test;
 * RINGCAST_ADDON stays (the ASan run points every process at the sanitized addon).
 */
export const cleanEnv = () =>
  Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('RINGCAST_') || k === 'RINGCAST_ADDON'));

export function runSync(args: string[], env: Record<string, string> = {}) {
  return spawnSync(process.execPath, [CLI, ...args], { env: { ...cleanEnv(), ...env }, encoding: 'utf8', timeout: 10_000 });
}

export interface Running {
  child: ChildProcess;
  lines: Record<string, unknown>[];
  listening: Promise<Record<string, unknown>>;
  exited: Promise<number | null>;
}

const running: Running[] = [];
afterEach(() => {
  for (const r of running.splice(0)) r.child.kill('SIGKILL');
});

/**
 * Starts the CLI on 127.0.0.1, optionally through a launcher (e.g. a seccomp filter) and with
 * flags for node itself (e.g. --expose-gc); killed after the test.
 */
export function startCli(args: string[], env: Record<string, string> = {}, launcher: string[] = [], nodeArgs: string[] = []): Running {
  const argv = [...launcher, process.execPath, ...nodeArgs, CLI, '--host', '127.0.0.1', ...args];
  const child = spawn(argv[0]!, argv.slice(1), { env: { ...cleanEnv(), ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: Record<string, unknown>[] = [];
  let buf = '';
  const listening = new Promise<Record<string, unknown>>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      let nl;
      while ((nl = buf.indexOf('\n')) !== -1) {
        const line = JSON.parse(buf.slice(0, nl)) as Record<string, unknown>;
        buf = buf.slice(nl + 1);
        lines.push(line);
        if (line.event === 'listening') resolve(line);
      }
    });
    child.once('exit', () => reject(new Error('exited before listening')));
  });
  listening.catch(() => undefined);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const r = { child, lines, listening, exited };
  running.push(r);
  return r;
}
