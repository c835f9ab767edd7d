// --broker: `memory`, or a Redis URL. Parsed here once, so a bad value is a configuration error
// at start (exit 2) with a message that never prints the password.

export interface RedisTarget {
  host: string;
  port: number;
  password: string | undefined;
  username: string | undefined;
  db: number;
  tls: boolean;
}

/** Why `value` is not a valid --broker, or undefined when it is. */
export function brokerUrlProblem(value: string): string | undefined {
  if (value === 'memory') return undefined;
  const parsed = parseRedisUrl(value);
  return typeof parsed === 'string' ? parsed : undefined;
}

/** The Redis server a --broker URL names, or a message saying what is wrong with it. */
export function parseRedisUrl(value: string): RedisTarget | string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return 'must be memory, redis://[:password@]host:port[/db] or rediss://... (not a URL)';
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:')
    return `must be memory, redis://... or rediss://... (scheme ${url.protocol.slice(0, 20)} is not supported)`;
  if (url.hostname === '') return 'names no host (redis://host:port)';
  if (url.search !== '' || url.hash !== '') return 'takes no query or fragment';
  const port = url.port === '' ? 6379 : Number(url.port);
  const path = url.pathname === '' || url.pathname === '/' ? '0' : url.pathname.slice(1);
  if (!/^\d{1,4}$/.test(path)) return 'database must be a number (redis://host:port/0)';
  const db = Number(path);
  return {
    host: url.hostname.replace(/^\[(.*)\]$/, '$1'),
    port,
    password: url.password === '' ? undefined : decodeURIComponent(url.password),
    username: url.username === '' ? undefined : decodeURIComponent(url.username),
    db,
    tls: url.protocol === 'rediss:',
  };
}

/**
 * What every ringcast link to Redis shares: the target, TLS, and failing loudly (no offline
 * queue, no per-request retries, commands and connects bounded by --broker-timeout).
 */
export function linkOptions(target: RedisTarget, timeoutMs: number) {
  return {
    host: target.host,
    port: target.port,
    username: target.username,
    password: target.password,
    db: target.db,
    tls: target.tls ? {} : undefined,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: timeoutMs,
    connectTimeout: timeoutMs,
  };
}
