// Runs the native generator pinned to its CPU, acting on its '#phase' markers (so the server's
// /proc figures cover the same window the generator measures), and parses its JSON summary.
import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { LOADGEN_CPU } from './config.mjs';
import { LOADGEN } from './setup.mjs';

/** {mode:'closed', subscribers: 1000} -> ['--mode', 'closed', '--subscribers', '1000'] */
export function toFlags(options) {
  return Object.entries(options).flatMap(([k, v]) => [`--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`, String(v)]);
}

/**
 * Resolves with the summary object. hooks: { measure(), drain(), hold() } called as the
 * generator enters each phase. timeoutMs bounds the whole run; cpus is its taskset list.
 */
export function runLoadgen(url, options, { hooks = {}, logFile, timeoutMs, cpus = [LOADGEN_CPU] }) {
  return new Promise((resolve) => {
    const argv = ['-c', cpus.join(','), LOADGEN, '--url', url, ...toFlags(options)];
    const child = spawn('taskset', argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    const log = createWriteStream(logFile);
    let stdout = '';
    let pending = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => {
      log.write(d);
      pending += d;
      let nl;
      while ((nl = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        const m = /^#phase (\w+)/.exec(line);
        if (m && hooks[m[1]]) hooks[m[1]]();
      }
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('exit', (code, sig) => {
      clearTimeout(timer);
      log.end();
      try {
        resolve({ ...JSON.parse(stdout.trim().split('\n').pop()), exitCode: code });
      } catch {
        resolve({ ok: false, error: `loadgen exited with ${code ?? sig} and no summary${sig ? ` (killed after ${timeoutMs} ms)` : ''}` });
      }
    });
  });
}
