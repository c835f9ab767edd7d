// --broker rediss://: the node talks TLS to a real redis-server started with --tls-port and a
// certificate made by the test. The node (the built CLI) trusts it through NODE_EXTRA_CA_CERTS;
// without that it must refuse the certificate and say so (/healthz 503 with the reason), never
// fall back to plain text.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { freePort } from '../../loadtest/lib/server.mjs';
import { Client, sleep } from '../helpers/client.js';
import { describeWithRedis } from '../helpers/redis.js';

const CLI = fileURLToPath(new URL('../../dist/server/cli.js', import.meta.url));

async function waitFor(what: string, check: () => Promise<boolean> | boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms`);
    await sleep(50);
  }
}

/** Starts the CLI; resolves with its port once its listen line is printed. */
async function node(args: string[], env: NodeJS.ProcessEnv): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, [CLI, '--port', '0', '--host', '127.0.0.1', '--transport', 'ws', '--log-level', 'info', ...args], {
    env: { PATH: process.env.PATH, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  await waitFor('the listen line', () => /"event":"listening"/.test(out));
  const line = out.split('\n').find((l) => l.includes('"event":"listening"'))!;
  return { child, port: (JSON.parse(line) as { port: number }).port };
}

describeWithRedis('the redis broker over TLS (rediss://)', () => {
  let dir: string;
  let redis: ChildProcess;
  let tlsPort: number;
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ringcast-tls-'));
    const cert = spawnSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-keyout',
        join(dir, 'key.pem'),
        '-out',
        join(dir, 'cert.pem'),
        '-days',
        '2',
        '-subj',
        '/CN=localhost',
        '-addext',
        'subjectAltName=DNS:localhost,IP:127.0.0.1',
      ],
      { encoding: 'utf8' },
    );
    if (cert.status !== 0) throw new Error(`openssl: ${cert.stderr}`);
    tlsPort = await freePort();
    redis = spawn(
      'redis-server',
      [
        '--port',
        '0',
        '--tls-port',
        String(tlsPort),
        '--tls-cert-file',
        join(dir, 'cert.pem'),
        '--tls-key-file',
        join(dir, 'key.pem'),
        '--tls-auth-clients',
        'no',
        '--save',
        '',
        '--appendonly',
        'no',
        '--dir',
        dir,
        '--bind',
        '127.0.0.1',
      ],
      { stdio: 'ignore' },
    );
    await waitFor('redis-server with TLS', () =>
      spawnSync('redis-cli', ['--tls', '--cacert', join(dir, 'cert.pem'), '-p', String(tlsPort), 'ping'], {
        encoding: 'utf8',
      }).stdout.includes('PONG'),
    );
  });

  afterAll(() => {
    for (const c of children) c.kill('SIGKILL');
    redis?.kill('SIGKILL');
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  it('publishes and delivers through a TLS link when the certificate is trusted', async () => {
    const n = await node(['--broker', `rediss://localhost:${tlsPort}`, '--broker-prefix', 'tls'], {
      NODE_EXTRA_CA_CERTS: join(dir, 'cert.pem'),
    });
    children.push(n.child);
    await waitFor('/healthz 200', async () => (await fetch(`http://127.0.0.1:${n.port}/healthz`)).status === 200);
    const sub = await Client.open(`ws://127.0.0.1:${n.port}/ws`);
    expect(await sub.request({ op: 'sub', topic: 'secure', id: 's' })).toMatchObject({ op: 'ack', seq: 0 });
    const res = await fetch(`http://127.0.0.1:${n.port}/publish`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ topic: 'secure', data: 'over tls' }),
    });
    expect(await res.json()).toMatchObject({ seq: 1 });
    expect(await sub.next()).toMatchObject({ op: 'msg', seq: 1, data: 'over tls' });
    sub.close();
  }, 30_000);

  it('refuses an untrusted certificate loudly: /healthz 503 naming it, /livez 200, requests unavailable', async () => {
    const n = await node(['--broker', `rediss://localhost:${tlsPort}`, '--broker-prefix', 'tls', '--broker-timeout', '1000'], {});
    children.push(n.child);
    const health = await fetch(`http://127.0.0.1:${n.port}/healthz`);
    expect(health.status).toBe(503);
    expect(JSON.stringify(await health.json())).toMatch(/certificate/i);
    expect((await fetch(`http://127.0.0.1:${n.port}/livez`)).status).toBe(200);
    const c = await Client.open(`ws://127.0.0.1:${n.port}/ws`);
    expect(await c.request({ op: 'pub', topic: 'secure', data: 1, id: 'p' })).toMatchObject({ op: 'err', code: 'unavailable' });
    c.close();
  }, 30_000);
});
