// A real redis-server per test file, started by the test on a free port with its own temp dir
// (never a system instance). The class lives in loadtest/lib/redis.mjs so the broker benchmark
// starts Redis exactly as the tests do; this file gives it types and a vitest fixture.
import type { Redis, RedisOptions } from 'ioredis';
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe } from 'vitest';
import { RedisServer as Impl } from '../../loadtest/lib/redis.mjs';

export interface CommandStat {
  calls: number;
  usec: number;
}

export interface RedisServer {
  /** redis://127.0.0.1:PORT */
  readonly url: string;
  readonly port: number;
  /** its temp dir: dump.rdb and snapshots */
  readonly dir: string;
  /** undefined while not running */
  readonly pid: number | undefined;
  /** the process is up; false after kill(), stop() or a crash */
  readonly running: boolean;
  /** SIGKILL, resolved once the process is gone: a crash, nothing saved */
  kill(): Promise<void>;
  /** SHUTDOWN NOSAVE, SIGKILL after 5 s */
  stop(): Promise<void>;
  /** start again on the same port and dir, loading dump.rdb if present */
  restart(): Promise<void>;
  /** delete dump.rdb, then start: a restart that lost every key */
  restartEmpty(): Promise<void>;
  /** SAVE */
  save(): Promise<void>;
  /** SAVE, copy dump.rdb aside, resolve with the copy's path */
  snapshot(): Promise<string>;
  /** kill, put the snapshot back as dump.rdb, start: Redis restarted from an older snapshot */
  restoreSnapshot(file: string): Promise<void>;
  /** one command on the helper's own connection */
  call(command: string, ...args: (string | number | Buffer)[]): Promise<unknown>;
  info(section?: string): Promise<Record<string, string>>;
  /** INFO server run_id: new on every start */
  runId(): Promise<string>;
  /** INFO commandstats: calls and microseconds per command (INFO itself counted) */
  commandStats(): Promise<Record<string, CommandStat>>;
  /** CONFIG RESETSTAT */
  resetStats(): Promise<void>;
  /** used_cpu_sys + used_cpu_user of INFO cpu, seconds */
  cpuSeconds(): Promise<number>;
  /** an ioredis client for assertions (reconnects across restarts); closed by close() */
  client(options?: RedisOptions): Redis;
  /** disconnect the clients, kill the process, remove the dir */
  close(): Promise<void>;
}

export const RedisServer: { start(opts?: { save?: boolean; aof?: boolean }): Promise<RedisServer> } = Impl;

/**
 * One Redis for the file's tests: started in beforeAll, closed in afterAll. Call at the top of
 * a describe block: `const r = redisFixture(); ... r.redis.url`. save: true keeps Debian's
 * automatic save points (dump.rdb written by Redis itself, as in production).
 */
export function redisFixture(opts: { save?: boolean; aof?: boolean } = {}) {
  let current: RedisServer | undefined;
  beforeAll(async () => {
    current = await RedisServer.start(opts);
  });
  afterAll(async () => {
    await current?.close();
    current = undefined;
  });
  return {
    get redis(): RedisServer {
      if (current === undefined) throw new Error('redisFixture: Redis starts in beforeAll');
      return current;
    },
  };
}

/** Why the broker tests cannot run here (no redis-server on PATH), or undefined. */
export const redisMissing: string | undefined =
  spawnSync('redis-server', ['--version'], { encoding: 'utf8' }).status === 0
    ? undefined
    : 'redis-server not found (apt-get install redis-server)';

/**
 * describe() for tests that need redis-server: skipped with the reason where it is missing,
 * except under CI=true, where it must be there (.ci/run installs it) and the tests fail instead.
 */
export const describeWithRedis = describe.skipIf(redisMissing !== undefined && process.env.CI !== 'true');
if (redisMissing !== undefined && process.env.CI !== 'true') console.log(`skipping the Redis broker tests: ${redisMissing}`);
