// Plain HTTP on the WebSocket port: POST /publish, GET /healthz, /livez, /metrics. Transport
// independent: a request arrives as plain data with its body read, a response leaves as
// plain data, so the ws transport and the io_uring engine answer identically.
import { allowed, type Permissions } from '../auth/permissions.js';
import type { Authenticator } from '../auth/tokens.js';
import type { BrokerHealth } from '../broker/types.js';
import type { ClusterView } from '../cluster/messages.js';
import type { Hub } from '../hub/hub.js';
import type { Metrics } from '../metrics.js';
import { httpError, type ErrorCode } from '../protocol/errors.js';
import { isValidKey, parsePublishBody } from '../protocol/request.js';
import type { HttpRequest, HttpResponse } from '../transport/types.js';
import { demoRoute } from './demo.js';
import { isUtf8 } from 'node:buffer';
import { createHash, timingSafeEqual } from 'node:crypto';

export interface ApiContext {
  hub: Hub;
  metrics: Metrics;
  wsPath: string;
  /** when set, POST /publish takes it as Authorization: Bearer or X-Api-Key */
  apiKey: string | null;
  /** when JWT auth is on, POST /publish also takes a bearer token whose `pub` claim allows the topic */
  auth: Authenticator | null;
  draining: () => boolean;
  /** the broker's state, for /healthz (ready to serve only while it is up) */
  broker: () => BrokerHealth;
  /** the broker is in this process (it is up whenever the server is): /healthz names no broker */
  brokerInProcess: boolean;
  /** --demo: serve the chat page and the client module */
  demo: boolean;
  /** in a worker thread of --workers: what the main thread knows of every worker */
  cluster?: (() => ClusterView) | undefined;
  /** in a worker thread: every worker's metrics added up by the main thread */
  metricsText?: (() => Promise<{ contentType: string; text: string }>) | undefined;
}

function bearer(req: HttpRequest): string | undefined {
  const auth = req.headers.authorization;
  return auth !== undefined && /^bearer /i.test(auth) ? auth.slice(7).trim() : undefined;
}

function isApiKey(ctx: ApiContext, given: string | undefined): boolean {
  if (ctx.apiKey === null || given === undefined) return false;
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(ctx.apiKey).digest();
  return timingSafeEqual(a, b); // equal-length digests: no length or prefix leaks through timing
}

/**
 * Who may publish over HTTP: anyone when neither --api-key nor JWT auth is set; else the API key
 * (every topic) or, with JWT auth on, a bearer token (the topics its `pub` claim allows).
 */
async function publisher(
  ctx: ApiContext,
  req: HttpRequest,
): Promise<{ ok: true; perms: Permissions | null } | { ok: false; reason: string }> {
  if (ctx.apiKey === null && ctx.auth === null) return { ok: true, perms: null };
  const token = bearer(req);
  if (isApiKey(ctx, token ?? req.headers['x-api-key'])) return { ok: true, perms: null };
  if (ctx.auth === null) return { ok: false, reason: 'bad_api_key' };
  const result = await ctx.auth.verify(token);
  return result.ok ? { ok: true, perms: result.identity.perms } : { ok: false, reason: result.reason };
}

function json(status: number, value: unknown): HttpResponse {
  return { status, headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(value) };
}

function error(code: ErrorCode, msg: string, headers: Record<string, string> = {}): HttpResponse {
  return httpError(code, msg, headers);
}

function pathOf(url: string): string {
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}

function isJsonContentType(value: string | undefined): boolean {
  if (value === undefined) return false;
  const type = value.split(';')[0]!.trim().toLowerCase();
  return type === 'application/json' || (type.startsWith('application/') && type.endsWith('+json'));
}

export async function handleHttp(ctx: ApiContext, req: HttpRequest): Promise<HttpResponse> {
  const path = pathOf(req.url);
  switch (path) {
    case '/publish':
      if (req.method !== 'POST') return error('method_not_allowed', 'use POST', { Allow: 'POST' });
      return publish(ctx, req);
    case '/healthz': {
      if (req.method !== 'GET' && req.method !== 'HEAD') return error('method_not_allowed', 'use GET', { Allow: 'GET, HEAD' });
      if (ctx.draining()) return json(503, { status: 'draining' });
      const broker = ctx.broker();
      const workers = ctx.cluster === undefined ? {} : { workers: ctx.cluster().workers };
      if (ctx.brokerInProcess) return json(200, { status: 'ok', ...workers });
      return broker.state === 'up'
        ? json(200, { status: 'ok', broker, ...workers })
        : json(503, { status: 'unavailable', broker, ...workers });
    }
    case '/livez':
      if (req.method !== 'GET' && req.method !== 'HEAD') return error('method_not_allowed', 'use GET', { Allow: 'GET, HEAD' });
      return json(200, { status: 'alive' });
    case '/metrics':
      if (req.method !== 'GET' && req.method !== 'HEAD') return error('method_not_allowed', 'use GET', { Allow: 'GET, HEAD' });
      if (ctx.metricsText !== undefined) {
        const all = await ctx.metricsText();
        return { status: 200, headers: { 'Content-Type': all.contentType }, body: all.text };
      }
      return { status: 200, headers: { 'Content-Type': ctx.metrics.registry.contentType }, body: await ctx.metrics.registry.metrics() };
    default: {
      const demo = ctx.demo ? demoRoute(path, req.method, ctx.wsPath) : undefined;
      if (demo !== undefined) return demo;
      if (path === ctx.wsPath) {
        // a plain request on the WebSocket path: it lacked the upgrade headers (RFC 6455 4.2.2)
        if (req.headers.upgrade !== undefined) return error('bad_request', 'Connection header must include Upgrade');
        return error('upgrade_required', 'this endpoint speaks WebSocket', {
          Upgrade: 'websocket',
          Connection: 'Upgrade',
          'Sec-WebSocket-Version': '13',
        });
      }
      return error('not_found', `no route for ${path.slice(0, 100)}`);
    }
  }
}

async function publish(ctx: ApiContext, req: HttpRequest): Promise<HttpResponse> {
  const who = await publisher(ctx, req);
  if (!who.ok) {
    ctx.metrics.authFailures.inc({ reason: who.reason });
    return error(
      'unauthorized',
      ctx.auth === null ? 'POST /publish needs the API key' : 'POST /publish needs the API key or a token whose pub claim allows the topic',
    );
  }
  if (!isJsonContentType(req.headers['content-type'])) return error('unsupported_media_type', 'Content-Type must be application/json');
  if (ctx.draining()) return error('unavailable', 'server is draining');
  if (!isUtf8(req.body)) return error('bad_json', 'body is not UTF-8');
  const parsed = parsePublishBody(req.body);
  if (!parsed.ok) return error(parsed.code, parsed.msg);
  if (!allowed(who.perms, 'pub', parsed.topic)) return error('forbidden', `token does not allow publishing to ${parsed.topic}`);
  const header = req.headers['idempotency-key'];
  if (header !== undefined && !isValidKey(header))
    return error('bad_request', 'Idempotency-Key must be 1..200 bytes of printable ASCII without spaces');
  if (header !== undefined && parsed.key !== undefined && header !== parsed.key)
    return error('bad_request', 'Idempotency-Key and "key" differ');
  const result = await ctx.hub.publish(parsed.topic, parsed.data, -1, 'http', header ?? parsed.key);
  // a broker outage is short-lived by design (reconnects every second at most): ask to retry soon
  if (!result.ok) return error(result.code, result.msg, result.code === 'unavailable' ? { 'Retry-After': '1' } : {});
  return json(
    200,
    result.duplicate ? { seq: result.seq, subscribers: 0, duplicate: true } : { seq: result.seq, subscribers: result.subscribers },
  );
}
