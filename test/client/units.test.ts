// Small pieces of the client and the hub additions, without sockets: the backoff, the
// idempotency store's bounds, the close-code actions, and the immediate retry on `online`.
import { afterEach, describe, expect, it } from 'vitest';
import { backoffDelay } from '../../server/client/backoff.js';
import { closeAction, refusalAction } from '../../server/client/close-codes.js';
import { errAction, errRules } from '../../server/client/err-codes.js';
import { errors } from '../../server/protocol/errors.js';
import { RingcastClient, type StateChange } from '../../server/client/index.js';
import { IdempotencyStore } from '../../server/broker/idempotency.js';
import { until } from '../helpers/client.js';
import { CutProxy } from '../helpers/proxy.js';
import { startServer, type TestServer } from '../helpers/server.js';

describe('the backoff', () => {
  it('draws a full-jitter delay below min * 2^attempt, capped at max', () => {
    expect(backoffDelay(0, 100, 5000, () => 0.999)).toBe(99);
    expect(backoffDelay(3, 100, 5000, () => 0.5)).toBe(400);
    expect(backoffDelay(10, 100, 5000, () => 0.999)).toBe(4995);
    expect(backoffDelay(5000, 100, 5000, () => 0)).toBe(0);
  });
});

describe('the err-code actions', () => {
  it('classes every err code the server can send, retrying only what passes by itself', () => {
    // answered over HTTP or by closing the link, never as an err frame to a request
    const notFrames = ['bad_target', 'bad_handshake', 'bad_version', 'upgrade_required', 'not_found', 'method_not_allowed'];
    notFrames.push('unsupported_media_type', 'headers_too_large', 'slow_consumer', 'token_expired');
    const known = new Set(errRules.map((r) => r.code));
    expect(Object.keys(errors).filter((c) => !notFrames.includes(c) && !known.has(c))).toEqual([]);
    expect(['unavailable', 'rate_limited', 'topic_limit', 'timeout'].map(errAction)).toEqual(['retry', 'retry', 'retry', 'retry']);
    expect(['forbidden', 'bad_topic', 'too_many_topics', 'a_code_from_a_newer_server'].map(errAction)).toEqual([
      'fail',
      'fail',
      'fail',
      'fail',
    ]);
  });
});

describe('the close-code actions', () => {
  it('retries on link loss and drain, refreshes on 4001, stops on protocol bugs and refusals', () => {
    expect([1001, 1006, 1011, 1013, 4000, 3000].map(closeAction)).toEqual(['retry', 'retry', 'retry', 'retry', 'retry', 'retry']);
    expect(closeAction(4001)).toBe('refresh');
    expect([1002, 1007, 4003].map(closeAction)).toEqual(['stop', 'stop', 'stop']);
    expect([refusalAction(401, true), refusalAction(401, false), refusalAction(403, true), refusalAction(503, false)]).toEqual([
      'retry',
      'stop',
      'stop',
      'retry',
    ]);
  });
});

describe('the idempotency store', () => {
  it('remembers a key per topic for the TTL', () => {
    const s = new IdempotencyStore({ ttlMs: 1000, maxKeys: 10 });
    s.remember('a', 'k', 7, 0);
    expect(s.seen('a', 'k', 999)).toBe(7);
    expect(s.seen('b', 'k', 999)).toBeUndefined();
    expect(s.seen('a', 'k', 1000)).toBeUndefined();
    expect(s.size).toBe(0);
  });

  it('holds at most maxKeys keys, forgetting the oldest first', () => {
    const s = new IdempotencyStore({ ttlMs: 60_000, maxKeys: 3 });
    for (let i = 1; i <= 5; i++) s.remember('t', `k${i}`, i, i);
    expect(s.size).toBe(3);
    expect(['k1', 'k2', 'k3', 'k4', 'k5'].map((k) => s.seen('t', k, 10))).toEqual([undefined, undefined, 3, 4, 5]);
  });

  it('remembers nothing with a TTL of 0', () => {
    const s = new IdempotencyStore({ ttlMs: 0, maxKeys: 3 });
    s.remember('t', 'k', 1, 0);
    expect(s.seen('t', 'k', 0)).toBeUndefined();
  });
});

describe('a browser coming back online', () => {
  let srv: TestServer;
  let proxy: CutProxy;
  const g = globalThis as { addEventListener?: unknown; removeEventListener?: unknown };
  afterEach(async () => {
    delete g.addEventListener;
    delete g.removeEventListener;
    await proxy?.close();
    await srv?.close();
  });

  it('skips the rest of the backoff and reconnects at once, and close() removes the listener', async () => {
    const listeners = new Set<() => void>();
    g.addEventListener = (e: string, l: () => void) => e === 'online' && listeners.add(l);
    g.removeEventListener = (e: string, l: () => void) => e === 'online' && listeners.delete(l);
    srv = await startServer('ws');
    proxy = await CutProxy.start(srv.port);
    const c = new RingcastClient(`ws://127.0.0.1:${proxy.port}/ws`, { minDelay: 60_000, maxDelay: 60_000, pingInterval: 0 });
    const seen: StateChange[] = [];
    c.on('state', (s) => {
      seen.push(s);
      // the retry timer is armed right after this event: fire `online` once it is
      if (s.state === 'disconnected') queueMicrotask(() => listeners.forEach((l) => l()));
    });
    await until(() => c.state === 'connected');
    proxy.cut();
    await until(() => seen.filter((s) => s.state === 'connected').length === 2, 3000);
    expect(seen.find((s) => s.state === 'disconnected')!.delay).toBeGreaterThanOrEqual(0);
    expect(listeners.size).toBe(1);
    await c.close();
    expect(listeners.size).toBe(0);
  });
});

describe('a URL the WebSocket constructor rejects', () => {
  it('stops with refused instead of retrying', async () => {
    const c = new RingcastClient('ftp://127.0.0.1:1/ws', { pingInterval: 0 });
    const errors: unknown[] = [];
    c.on('error', (e) => errors.push(e));
    await until(() => c.state === 'closed');
    expect(errors).toEqual([expect.objectContaining({ code: 'refused' })]);
  });
});
