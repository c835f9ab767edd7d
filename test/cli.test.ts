// The CLI contract of DESIGN.md "Running it", on the built package (dist/), as a user runs it.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { probeUring } from '../server/transport/select.js';
import { Client } from './helpers/client.js';
import { rawHttp } from './helpers/raw.js';
import { transports } from './helpers/server.js';
import { runSync, startCli as start } from './helpers/cli.js';

const uringHere = probeUring().ok;

let denyBinary: string | undefined;
/** Builds native/tools/deny_io_uring.c once: a launcher that makes io_uring_setup fail under seccomp. */
function denyIoUring(): string {
  if (denyBinary) return denyBinary;
  const out = join(mkdtempSync(join(tmpdir(), 'ringcast-deny-')), 'deny_io_uring');
  const src = fileURLToPath(new URL('../native/tools/deny_io_uring.c', import.meta.url));
  const cc = spawnSync('cc', ['-O2', '-Wall', '-Wextra', '-Werror', '-o', out, src], { encoding: 'utf8' });
  if (cc.status !== 0) throw new Error(`cannot build deny_io_uring: ${cc.stderr}`);
  return (denyBinary = out);
}
describe('ringcast CLI', () => {
  it('prints every flag with its default for --help and exits 0', () => {
    const r = runSync(['--help']);
    expect(r.status).toBe(0);
    for (const flag of [
      '--host',
      '--port',
      '--path',
      '--transport',
      '--max-payload',
      '--max-outbound',
      '--history',
      '--max-connections',
      '--log-level',
      '--config',
    ]) {
      expect(r.stdout).toContain(flag);
    }
    expect(r.stdout).toContain('(default: 8080)');
  });

  it.each([
    [['--port', 'x'], {}, '--port'],
    [['--nope'], {}, '--nope'],
    [[], { RINGCAST_MAX_PAYLOAD: 'lots' }, 'RINGCAST_MAX_PAYLOAD'],
  ])('exits 2 with one line naming a bad setting: %j %j', (args, env, name) => {
    const r = runSync(args, env);
    expect(r.status).toBe(2);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(name);
  });

  it('exits 2 naming an unknown key of the config file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ringcast-cli-'));
    writeFileSync(join(dir, 'c.json'), '{"maxPayloadz": 1}');
    const r = runSync(['--config', join(dir, 'c.json')]);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain("'maxPayloadz'");
  });

  it('logs one JSON listening line with host, port, path and transport, and serves clients', async () => {
    const r = start(['--port', '0', '--transport', 'ws', '--path', '/live']);
    const line = await r.listening;
    expect(line).toMatchObject({ host: '127.0.0.1', path: '/live', transport: 'ws', level: 30 });
    const c = await Client.open(`ws://127.0.0.1:${line.port as number}/live`);
    expect(await c.request({ op: 'sub', topic: 'a', id: 1 })).toMatchObject({ op: 'ack' });
    c.close();
  });

  it('takes settings from env and config file, flags first', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ringcast-cli-'));
    writeFileSync(join(dir, 'c.json'), JSON.stringify({ path: '/from-file', port: 0, transport: 'ws' }));
    const r = start(['--config', join(dir, 'c.json')], { RINGCAST_PATH: '/from-env' });
    expect(await r.listening).toMatchObject({ path: '/from-env' });
  });

  describe('transport selection under a real seccomp refusal of io_uring_setup', () => {
    // EPERM is what Docker >= 25's default profile answers, ENOSYS what podman's answers.
    it.each([
      [1, /seccomp/],
      [38, /seccomp profile blocks io_uring \(podman/],
    ])('with errno %i, auto runs on ws and logs one line with the reason and the fix', async (errno, why) => {
      const r = start(['--port', '0'], {}, [denyIoUring(), String(errno)]);
      expect(await r.listening).toMatchObject({ transport: 'ws' });
      const fallback = r.lines.filter((l) => l.event === 'transport_fallback');
      expect(fallback).toHaveLength(1);
      expect(String(fallback[0]!.reason)).toMatch(why);
      expect(String(fallback[0]!.reason)).toMatch(/fix:/);
    });

    it('with --transport uring, exits 1 with that line instead', async () => {
      const r = start(['--port', '0', '--transport', 'uring'], {}, [denyIoUring(), '1']);
      expect(await r.exited).toBe(1);
      expect(String(r.lines.find((l) => l.event === 'transport_unavailable')?.reason)).toMatch(/seccomp/);
    });
  });

  it.runIf(uringHere)('runs on uring by default on this machine and names the ring features', async () => {
    const r = start(['--port', '0']);
    const line = await r.listening;
    expect(line).toMatchObject({ transport: 'uring' });
    expect(JSON.stringify(line.features)).toMatch(/defer_taskrun|single_issuer|pbuf_ring/);
    expect(r.lines.filter((l) => l.event === 'transport_fallback')).toHaveLength(0);
  });

  it.each(transports.flatMap((t) => (['SIGTERM', 'SIGINT'] as const).map((sig) => [sig, t] as const)))(
    'drains on %s (%s transport): clients get 1001 and the process exits 0',
    async (signal, transport) => {
      const r = start(['--port', '0', '--transport', transport]);
      const { port } = (await r.listening) as { port: number };
      const clients = await Promise.all([1, 2, 3].map(() => Client.open(`ws://127.0.0.1:${port}/ws`)));
      r.child.kill(signal);
      for (const c of clients) expect((await c.closed).code).toBe(1001);
      expect(await r.exited).toBe(0);
      expect(r.lines.map((l) => l.event)).toEqual(expect.arrayContaining(['signal', 'draining', 'stopped']));
    },
  );

  it.each(transports)('completes a SIGTERM drain when stdout is a closed pipe (%s transport)', async (transport) => {
    const r = start(['--port', '0', '--transport', transport]);
    await r.listening;
    r.child.stdout!.destroy(); // the log reader is gone: every later write gets EPIPE
    await new Promise((resolve) => setTimeout(resolve, 200)); // the pipe's read end is closed by now
    r.child.kill('SIGTERM');
    expect(await Promise.race([r.exited, new Promise((resolve) => setTimeout(() => resolve('still running'), 5000))])).toBe(0);
  });

  it.each(transports)('stays up and serves after upgrades to targets WHATWG URL refuses (%s transport)', async (transport) => {
    const r = start(['--port', '0', '--transport', transport]);
    const { port } = (await r.listening) as { port: number };
    for (const target of ['http://[/ws', '//[/ws', 'http://a:99999/ws']) {
      const answer = await rawHttp(
        port,
        `GET ${target} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      );
      expect(answer).toMatch(/^HTTP\/1\.1 400 /);
    }
    const c = await Client.open(`ws://127.0.0.1:${port}/ws`);
    c.close();
    expect(r.child.exitCode).toBeNull();
  });

  it('logs a rejection that escapes every handler and keeps serving', async () => {
    // a rejection nobody handles, as a bug of ours would leave one, made once the server listens
    // (on SIGUSR2, which a single-worker server does not use): no delay counted from start-up
    const hook = join(mkdtempSync(join(tmpdir(), 'ringcast-reject-')), 'reject.mjs');
    writeFileSync(hook, "process.on('SIGUSR2', () => void Promise.reject(new Error('escaped on purpose')));\n");
    const r = start(['--port', '0', '--transport', 'ws'], { NODE_OPTIONS: `--import ${hook}` });
    const { port } = (await r.listening) as { port: number };
    r.child.kill('SIGUSR2');
    const deadline = Date.now() + 15_000;
    while (r.lines.find((l) => l.event === 'unhandled_rejection') === undefined && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(r.child.exitCode).toBeNull();
    expect(r.lines.find((l) => l.event === 'unhandled_rejection')).toMatchObject({ level: 50 });
    const c = await Client.open(`ws://127.0.0.1:${port}/ws`);
    c.close();
  });

  it('keeps the JWT secret and the API key out of every log line', async () => {
    const secret = 'never-log-this-secret-0123456789';
    const key = 'never-log-this-api-key';
    const r = start(['--port', '0', '--log-level', 'trace', '--jwt-secret', secret, '--api-key', key]);
    const { port } = (await r.listening) as { port: number };
    await fetch(`http://127.0.0.1:${port}/publish`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: '{"topic":"a","data":1}',
    });
    r.child.kill('SIGTERM');
    await r.exited;
    const all = JSON.stringify(r.lines);
    expect(all).not.toContain(secret);
    expect(all).not.toContain(key);
  });

  it('exits 2 naming a public key file that cannot be loaded', () => {
    const r = runSync(['--port', '0', '--jwt-public-key', '/nonexistent/key.pem']);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('--jwt-public-key');
  });

  it('exits 1 with a clear line when the port is taken', async () => {
    const first = start(['--port', '0', '--transport', 'ws']);
    const { port } = (await first.listening) as { port: number };
    const second = start(['--port', String(port), '--transport', 'ws']);
    expect(await second.exited).toBe(1);
    expect(second.lines.find((l) => l.event === 'listen_failed')).toMatchObject({ code: 'EADDRINUSE' });
  });
});
