// Starts one server fresh for one run, pinned to its CPU, and stops it again.
import { spawn } from 'node:child_process';
import { createWriteStream, readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { placement } from './config.mjs';
import { PEERS } from './setup.mjs';

const START_TIMEOUT_MS = 15000;
const STOP_TIMEOUT_MS = 5000;

/**
 * The command line for a server entry of config.mjs SERVERS or BROKER_SETUPS; `deflate` (a
 * scenario's) turns permessage-deflate on: ringcast --permessage-deflate on, the peers' --deflate
 * on. `server.broker` (a redis:// URL) is ringcast's --broker and ws-redis's --redis;
 * `server.workers` (a number or 'auto') is ringcast's --workers, left out when unset, and
 * `server.logLevel` its --log-level (warn); `server.args` more ringcast flags (--sqpoll 10).
 */
function command(server, port, tools, deflate) {
  const onOff = deflate ? 'on' : 'off';
  switch (server.kind) {
    case 'ringcast':
      return [
        'node',
        ...(tools.ringcastNodeFlags ?? []),
        tools.ringcastCli,
        '--host',
        '127.0.0.1',
        '--port',
        String(port),
        '--transport',
        server.transport,
        ...(server.workers !== undefined ? ['--workers', String(server.workers)] : []),
        '--log-level',
        server.logLevel ?? 'warn',
        '--permessage-deflate',
        onOff,
        ...(server.broker ? ['--broker', server.broker, '--broker-prefix', 'bench'] : []),
        ...(server.args ?? []),
      ];
    case 'ws-peer':
      return ['node', path.join(PEERS, 'ws-server.mjs'), '--port', String(port), '--deflate', onOff];
    case 'ws-redis-peer':
      return ['node', path.join(PEERS, 'ws-redis.mjs'), '--port', String(port), '--redis', server.broker];
    case 'bun-peer':
      return [tools.bunBin, path.join(PEERS, 'bun-server.ts'), '--port', String(port), '--deflate', onOff];
    default:
      throw new Error(`unknown server kind ${server.kind}`);
  }
}

function portOpen(port) {
  return new Promise((resolve) => {
    const s = net.connect({ port, host: '127.0.0.1' });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** The server's last log line; for a JSON (pino) line, its message. */
function lastLine(file) {
  let line = '';
  try {
    const lines = readFileSync(file, 'utf8').trim().split('\n');
    line = lines[lines.length - 1] ?? '';
    return JSON.parse(line).msg ?? line;
  } catch {
    return line;
  }
}

/**
 * Resolves { pid, port, stop() } once the port accepts, or { unavailable: reason } when the
 * process exits first (ringcast --transport uring exits 1 while the engine is not built).
 */
export async function startServer(server, tools, logFile, deflate = false) {
  if (server.kind === 'ringcast' && !tools.ringcastCli) return { unavailable: tools.ringcastReason };
  if (server.kind === 'bun-peer' && !tools.bunBin) return { unavailable: tools.bunReason };
  const port = await freePort();
  const argv = ['-c', placement(server).server.join(','), ...command(server, port, tools, deflate)];
  const out = createWriteStream(logFile);
  // taskset execs the server, so the child's pid is the server's pid for /proc; threads the
  // server starts later (--workers) inherit the CPU list.
  const child = spawn('taskset', argv, { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.pipe(out);
  child.stderr.pipe(out);
  let exited = null;
  const exit = new Promise((resolve) => child.once('exit', (code, sig) => resolve((exited = { code, sig }))));
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (!exited && Date.now() < deadline) {
    if (await portOpen(port)) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  if (exited || Date.now() >= deadline) {
    child.kill('SIGKILL');
    await exit;
    await new Promise((r) => out.end(r));
    const why = exited ? `exited with ${exited.code ?? exited.sig}` : `did not listen within ${START_TIMEOUT_MS} ms`;
    return { unavailable: `${why}: ${lastLine(logFile)}` };
  }
  return {
    pid: child.pid,
    port,
    async stop() {
      if (!exited) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
      await exit;
      clearTimeout(timer);
      await new Promise((r) => out.end(r));
    },
  };
}
