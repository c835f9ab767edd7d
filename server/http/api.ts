// Plain HTTP on the WebSocket port: POST /publish, GET /healthz, GET /metrics. Transport
// independent: a request arrives as plain data with its body read, a response leaves as
// plain data, so the ws transport and the io_uring engine answer identically.
import type { Hub } from '../hub/hub.js';
import type { Metrics } from '../metrics.js';
import type { ErrorCode } from '../protocol/errors.js';
import { parsePublishBody } from '../protocol/request.js';
import type { HttpRequest, HttpResponse } from '../transport/types.js';
import { isUtf8 } from 'node:buffer';
import { createHash, timingSafeEqual } from 'node:crypto';

export interface ApiContext {
  hub: Hub;
  metrics: Metrics;
  wsPath: string;
  /** when set, POST /publish needs it as Authorization: Bearer or X-Api-Key */
  apiKey: string | null;
  draining: () => boolean;
}

function hasApiKey(ctx: ApiContext, req: HttpRequest): boolean {
  if (ctx.apiKey === null) return true;
  const auth = req.headers.authorization;
  const given = auth !== undefined && /^bearer /i.test(auth) ? auth.slice(7).trim() : req.headers['x-api-key'];
  if (given === undefined) return false;
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(ctx.apiKey).digest();
  return timingSafeEqual(a, b); // equal-length digests: no length or prefix leaks through timing
}

const JSON_TYPE = { 'Content-Type': 'application/json' };

function json(status: number, value: unknown, headers: Record<string, string> = {}): HttpResponse {
  return { status, headers: { ...JSON_TYPE, ...headers }, body: JSON.stringify(value) };
}

function error(status: number, code: ErrorCode | 'not_found' | 'method_not_allowed' | 'unsupported_media_type' | 'upgrade_required', msg: string, headers: Record<string, string> = {}): HttpResponse {
  return json(status, { error: code, msg }, headers);
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
      if (req.method !== 'POST') return error(405, 'method_not_allowed', 'use POST', { Allow: 'POST' });
      if (!hasApiKey(ctx, req)) {
        ctx.metrics.authFailures.inc({ reason: 'bad_api_key' });
        return error(401, 'unauthorized', 'POST /publish needs the API key', { 'WWW-Authenticate': 'Bearer' });
      }
      return publish(ctx, req);
    case '/healthz':
      if (req.method !== 'GET' && req.method !== 'HEAD') return error(405, 'method_not_allowed', 'use GET', { Allow: 'GET, HEAD' });
      return ctx.draining() ? json(503, { status: 'draining' }) : json(200, { status: 'ok' });
    case '/metrics':
      if (req.method !== 'GET' && req.method !== 'HEAD') return error(405, 'method_not_allowed', 'use GET', { Allow: 'GET, HEAD' });
      return { status: 200, headers: { 'Content-Type': ctx.metrics.registry.contentType }, body: await ctx.metrics.registry.metrics() };
    default:
      if (path === ctx.wsPath) {
        // a plain request on the WebSocket path: it lacked the upgrade headers (RFC 6455 4.2.2)
        if (req.headers.upgrade !== undefined) return error(400, 'bad_request', 'Connection header must include Upgrade');
        return error(426, 'upgrade_required', 'this endpoint speaks WebSocket', { Upgrade: 'websocket', Connection: 'Upgrade', 'Sec-WebSocket-Version': '13' });
      }
      return error(404, 'not_found', `no route for ${path.slice(0, 100)}`);
  }
}

function publish(ctx: ApiContext, req: HttpRequest): HttpResponse {
  if (!isJsonContentType(req.headers['content-type'])) return error(415, 'unsupported_media_type', 'Content-Type must be application/json');
  if (ctx.draining()) return error(503, 'unavailable', 'server is draining');
  if (!isUtf8(req.body)) return error(400, 'bad_json', 'body is not UTF-8');
  const parsed = parsePublishBody(req.body);
  if (!parsed.ok) return error(400, parsed.code, parsed.msg);
  const result = ctx.hub.publish(parsed.topic, parsed.data, -1, 'http');
  return json(200, result);
}
