// The Docker image, built from this checkout and run with podman (or docker): under the engine's
// default seccomp profile it runs on ws and says why; under config/seccomp-io_uring.json it runs on
// io_uring as the non-root user within the RLIMIT_MEMLOCK it finds. Either way a real client
// subscribes and receives a publish through the container, /healthz and /metrics answer, and a
// stop drains (1001) and exits 0. Skipped, with the reason printed, where no engine runs.
import { readFileSync } from 'node:fs';
import { release } from 'node:os';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client, sleep } from './helpers/client.js';
import { nodeFlags } from './helpers/launch.js';
import { buildImage, Container, findEngine, removeAll, run, runOnce, type Engine } from './helpers/container.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const IMAGE = 'localhost/ringcast:test';
const PROFILE = fileURLToPath(new URL('../config/seccomp-io_uring.json', import.meta.url));
const BUILD_MS = 15 * 60_000;
const START_MS = 120_000;
const CASE_MS = 60_000;
const MSG_MS = 10_000;
/** What docs/deploy.md's Kubernetes securityContext asks for, in run flags. */
const HARDENED = ['--read-only', '--cap-drop=ALL', '--security-opt', 'no-new-privileges'];

const found = findEngine();
// RINGCAST_CONTAINER_TEST=1 (CI) turns "no engine" into a failure instead of a skip
const required = process.env.RINGCAST_CONTAINER_TEST === '1';
if (!found.engine) console.log(`test/container.test.ts ${required ? 'FAILS' : 'skipped'}: ${found.reason}`);

/** Why this host's kernel cannot run io_uring in any container, or undefined when it can. */
function hostWithoutUring(): string | undefined {
  const [major = 0, minor = 0] = release().split('.').map(Number);
  if (major < 6 || (major === 6 && minor < 1)) return `kernel ${release()} is older than 6.1`;
  try {
    const disabled = readFileSync('/proc/sys/kernel/io_uring_disabled', 'utf8').trim();
    if (disabled !== '0') return `kernel.io_uring_disabled=${disabled}`;
  } catch {
    // kernels before 6.6 have no such sysctl: io_uring is on
  }
  return undefined;
}
const noUring = found.engine ? hostWithoutUring() : undefined;
if (noUring) console.log(`test/container.test.ts: the io_uring cases are skipped: ${noUring}`);

/** The soft RLIMIT_MEMLOCK of the container's pid 1 in bytes (Infinity for unlimited). */
async function memlockOf(c: Container): Promise<number> {
  const limits = await c.exec('cat', '/proc/1/limits');
  const soft = /^Max locked memory\s+(\S+)/m.exec(limits)?.[1];
  if (soft === undefined) throw new Error(`no memlock line in /proc/1/limits:\n${limits}`);
  return soft === 'unlimited' ? Infinity : Number(soft);
}

/** "8.0MiB" / "548.0KiB" / "unlimited", as the engine formats sizes in its listen line. */
function engineBytes(n: number): string {
  if (n === Infinity) return 'unlimited';
  return n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(1)}MiB` : `${(n / 1024).toFixed(1)}KiB`;
}

function parseEngineBytes(s: string): number {
  const m = /^([\d.]+)(MiB|KiB)$/.exec(s);
  if (!m) throw new Error(`not an engine size: ${s}`);
  return Number(m[1]) * (m[2] === 'MiB' ? 1 << 20 : 1024);
}

/** The cases every container passes, whatever its transport. */
function servesThroughTheContainer(container: () => Container, drainDelayMs: number, health: unknown = { status: 'ok' }): void {
  it(
    'delivers a publish to a subscribed ws client, from a ws client and from POST /publish',
    async () => {
      const c = container();
      const sub = await Client.open(c.wsUrl('?topics=room'));
      const pub = await Client.open(c.wsUrl());
      try {
        pub.send({ op: 'pub', topic: 'room', data: { text: 'hi' }, id: 1 });
        expect(await sub.next(MSG_MS)).toMatchObject({ op: 'msg', topic: 'room', seq: 1, data: { text: 'hi' } });
        const res = await fetch(`${c.http}/publish`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ topic: 'room', data: 'hello' }),
        });
        expect(res.status).toBe(200);
        expect(await res.json()).toEqual({ seq: 2, subscribers: 1 });
        expect(await sub.next(MSG_MS)).toMatchObject({ op: 'msg', topic: 'room', seq: 2, data: 'hello' });
      } finally {
        sub.close();
        pub.close();
      }
    },
    CASE_MS,
  );

  it(
    'answers GET /healthz and GET /metrics',
    async () => {
      const c = container();
      const answer = await fetch(`${c.http}/healthz`);
      expect(answer.status).toBe(200);
      expect(await answer.json()).toEqual(health);
      const metrics = await fetch(`${c.http}/metrics`);
      expect(metrics.status).toBe(200);
      const text = await metrics.text();
      expect(text).toMatch(/^ringcast_connections\b/m);
      expect(text).toMatch(/^ringcast_publishes_total\b/m);
    },
    CASE_MS,
  );

  it(
    'drains on stop: /healthz turns 503, a connected client gets 1001, the container exits 0',
    async () => {
      const c = container();
      const client = await Client.open(c.wsUrl('?topics=room'));
      let closed: { code: number } | undefined;
      void client.closed.then((v) => (closed = v));
      const stopping = c.stop(30);
      let saw503 = drainDelayMs === 0;
      // poll until the server closes the client; during --drain-delay /healthz must say 503
      while (!closed) {
        if (!saw503) {
          const status = await fetch(`${c.http}/healthz`).then(
            (r) => r.status,
            () => 0,
          );
          if (status === 503) saw503 = true;
        }
        await sleep(50);
      }
      expect(closed.code).toBe(1001);
      expect(saw503).toBe(true);
      const stopped = await stopping;
      expect(stopped.code, stopped.stderr).toBe(0);
      expect(await c.wait()).toBe(0);
      expect((await c.state()).exitCode).toBe(0);
      const events = (await c.logs()).map((l) => l.event);
      expect(events).toContain('signal');
    },
    CASE_MS,
  );
}

describe.runIf(required && !found.engine)('the ringcast image (RINGCAST_CONTAINER_TEST=1)', () => {
  it('has podman or docker to build and run it with', () => {
    expect.fail(found.reason);
  });
});

describe.skipIf(!found.engine)('the ringcast image', () => {
  const engine = found.engine as Engine;

  beforeAll(async () => {
    await buildImage(engine, ROOT, IMAGE);
  }, BUILD_MS);

  afterAll(async () => {
    await removeAll(engine);
  }, START_MS);

  it(
    'runs as the non-root node user, exposes 8080, stops with SIGTERM and checks liveness at /livez (not readiness)',
    async () => {
      const [image] = JSON.parse((await run(engine, ['image', 'inspect', IMAGE])).stdout) as {
        Config: {
          User: string;
          ExposedPorts: Record<string, unknown>;
          StopSignal: string;
          Cmd: string[];
          Healthcheck?: { Test: string[] };
        };
        Healthcheck?: { Test: string[] }; // podman reports it beside Config, docker inside
      }[];
      const config = image!.Config;
      expect(config.User).toBe('node');
      expect(Object.keys(config.ExposedPorts)).toEqual(['8080/tcp']);
      expect(config.StopSignal).toBe('SIGTERM');
      expect((config.Healthcheck ?? image!.Healthcheck)?.Test.join(' ')).toContain('/livez');
      expect(config.Cmd).toEqual(['node', ...nodeFlags(), 'dist/server/cli.js']);
    },
    CASE_MS,
  );

  it(
    'holds only what runs: the built server and addon, production dependencies, no toolchain',
    async () => {
      const script = [
        'cd /app',
        'test -f dist/server/cli.js && echo has-dist',
        'test -f native/build/Release/ringcast.node && echo has-addon',
        'test -f config/seccomp-io_uring.json && echo has-profile',
        'test -d node_modules/ws && echo has-ws',
        'test -e node_modules/typescript || test -e node_modules/vitest || echo no-dev-deps',
        'test -e server || test -e native/src || test -e test || echo no-sources',
        'command -v g++ || command -v make || echo no-toolchain',
        'id -u',
      ].join('; ');
      const r = await runOnce(engine, IMAGE, ['--entrypoint', 'sh'], ['-c', script]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout.trim().split('\n')).toEqual([
        'has-dist',
        'has-addon',
        'has-profile',
        'has-ws',
        'no-dev-deps',
        'no-sources',
        'no-toolchain',
        '1000',
      ]);
    },
    CASE_MS,
  );

  describe("under the engine's default seccomp profile", () => {
    let c: Container;
    beforeAll(async () => {
      c = await Container.start(engine, IMAGE);
      await c.waitForEvent('listening');
    }, START_MS);

    it(
      'runs on ws and says in one log line why io_uring is unavailable and what would fix it',
      async () => {
        const logs = await c.logs();
        expect(logs.find((l) => l.event === 'listening')).toMatchObject({ transport: 'ws', port: 8080, path: '/ws' });
        const fallbacks = logs.filter((l) => l.event === 'transport_fallback');
        expect(fallbacks).toHaveLength(1);
        const reason = String(fallbacks[0]!.reason);
        expect(reason).toMatch(/^io_uring unavailable: .+; fix: .+/);
        // podman's default profile answers io_uring_setup with ENOSYS, Docker >= 25 with EPERM
        expect(reason).toMatch(engine.cmd === 'podman' ? /ENOSYS|syscalls are missing|seccomp/ : /EPERM|seccomp/);
      },
      CASE_MS,
    );

    it(
      'exits 1 with the same line at fatal when RINGCAST_TRANSPORT=uring forbids the fallback',
      async () => {
        const r = await runOnce(engine, IMAGE, ['-e', 'RINGCAST_TRANSPORT=uring']);
        expect(r.code).toBe(1);
        const line = r.stdout.split('\n').find((l) => l.includes('"transport_unavailable"'));
        expect(line, r.stdout + r.stderr).toBeDefined();
        expect(JSON.parse(line!)).toMatchObject({
          level: 60,
          transport: 'uring',
          reason: expect.stringMatching(/^io_uring unavailable: .+; fix: .+/),
        });
      },
      CASE_MS,
    );

    servesThroughTheContainer(() => c, 0);
  });

  describe.skipIf(noUring !== undefined)('under config/seccomp-io_uring.json', () => {
    const drainDelayMs = 5000;
    let c: Container;
    beforeAll(async () => {
      c = await Container.start(engine, IMAGE, {
        seccomp: PROFILE,
        env: { RINGCAST_DRAIN_DELAY: String(drainDelayMs) },
        args: HARDENED,
      });
      await c.waitForEvent('listening');
    }, START_MS);

    it(
      'runs on io_uring as uid 1000, read-only and without capabilities, within the RLIMIT_MEMLOCK it finds, and logs the sizing it chose',
      async () => {
        const logs = await c.logs();
        expect(logs.filter((l) => l.event === 'transport_fallback')).toEqual([]);
        const listening = logs.find((l) => l.event === 'listening')!;
        expect(listening).toMatchObject({ transport: 'uring', port: 8080 });
        const status = await c.exec('cat', '/proc/1/status');
        expect(/^Uid:\s+(.*)$/m.exec(status)?.[1]?.split(/\s+/)).toEqual(['1000', '1000', '1000', '1000']);
        expect(status).toMatch(/^CapEff:\s+0+$/m);
        expect(await c.exec('cat', '/proc/1/cmdline')).toContain('dist/server/cli.js');

        const memlock = await memlockOf(c);
        const { sizing } = listening.features as { ring: string; sizing: string };
        expect(sizing).toMatch(/^memlock=\S+ sq=\d+ cq=\d+ bufs=\d+x\d+ pinned=\S+$/);
        expect(sizing).toContain(`memlock=${engineBytes(memlock)} `);
        expect(parseEngineBytes(/pinned=(\S+)/.exec(sizing)![1]!)).toBeLessThanOrEqual(memlock);
      },
      CASE_MS,
    );

    it.runIf(engine?.cmd === 'podman')(
      "passes the image's HEALTHCHECK",
      async () => {
        const r = await run(engine, ['healthcheck', 'run', c.name]);
        expect(r.code, r.stdout + r.stderr).toBe(0);
      },
      CASE_MS,
    );

    servesThroughTheContainer(() => c, drainDelayMs);
  });

  describe.skipIf(noUring !== undefined)('with RINGCAST_WORKERS=2, under config/seccomp-io_uring.json', () => {
    const drainDelayMs = 1000;
    let c: Container;
    beforeAll(async () => {
      c = await Container.start(engine, IMAGE, {
        seccomp: PROFILE,
        env: { RINGCAST_DRAIN_DELAY: String(drainDelayMs), RINGCAST_WORKERS: '2' },
        args: HARDENED,
      });
      await c.waitForEvent('listening');
    }, START_MS);

    it(
      "sizes both workers' rings together inside the RLIMIT_MEMLOCK of uid 1000, and says so in the listen line",
      async () => {
        const logs = await c.logs();
        expect(logs.filter((l) => l.event === 'transport_fallback')).toEqual([]);
        const listening = logs.find((l) => l.event === 'listening')!;
        expect(listening).toMatchObject({ transport: 'uring', port: 8080, workers: 2 });
        const memlock = await memlockOf(c);
        const { sizing } = listening.features as { ring: string; sizing: string };
        expect(sizing).toContain(`memlock=${engineBytes(memlock)}/2 `);
        expect(2 * parseEngineBytes(/pinned=(\S+)/.exec(sizing)![1]!)).toBeLessThanOrEqual(memlock);
        expect(String(listening.msg)).toContain('2 workers');
      },
      CASE_MS,
    );

    servesThroughTheContainer(() => c, drainDelayMs, { status: 'ok', workers: { configured: 2, running: 2, restarts: 0 } });
  });
});
