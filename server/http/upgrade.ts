// Whether to accept a WebSocket upgrade: path, draining, connection limit, ?topics=.
// The RFC 6455 handshake fields were checked by the transport before this runs.
import { allowed } from '../auth/permissions.js';
import { Authenticator } from '../auth/tokens.js';
import type { Config } from '../config.js';
import type { Metrics } from '../metrics.js';
import { isValidTopic } from '../protocol/topic.js';
import type { UpgradeDecision, UpgradeRequest } from '../transport/types.js';

export interface UpgradeContext {
  config: Config;
  auth: Authenticator | null;
  /** exact allowed origins (lower-cased), or null for any */
  origins: Set<string> | null;
  metrics: Metrics;
  draining: () => boolean;
  connections: () => number;
}

/** The --allowed-origins list as a set of lower-cased origins, or null when unset. */
export function parseOrigins(list: string | null): Set<string> | null {
  if (list === null) return null;
  return new Set(list.split(',').map((o) => o.trim().toLowerCase()).filter((o) => o !== ''));
}

function refuse(status: number, body: string, reason: string): UpgradeDecision {
  return { ok: false, status, body, reason };
}

export async function decideUpgrade(ctx: UpgradeContext, req: UpgradeRequest): Promise<UpgradeDecision> {
  const url = new URL(req.url, 'http://localhost');
  if (url.pathname !== ctx.config.path) return refuse(404, `no WebSocket endpoint at ${url.pathname.slice(0, 100)}`, 'not_found');
  if (ctx.draining()) return refuse(503, 'server is draining', 'draining');
  const max = ctx.config.maxConnections;
  if (max > 0 && ctx.connections() >= max) return refuse(503, `connection limit of ${max} reached`, 'max_connections');
  // Browsers always send Origin; a client that sends none is not a browser and is not
  // protected by an origin check anyway (RFC 6455 section 10.2).
  const origin = req.headers.origin;
  if (ctx.origins !== null && origin !== undefined && !ctx.origins.has(origin.trim().toLowerCase())) {
    return refuse(403, 'origin not allowed', 'origin');
  }

  const topics: string[] = [];
  for (const param of url.searchParams.getAll('topics')) {
    for (const topic of param.split(',')) {
      if (topic === '') continue;
      if (!isValidTopic(topic)) return refuse(400, `bad topic in ?topics=: ${JSON.stringify(topic.slice(0, 50))}`, 'bad_topic');
      if (!topics.includes(topic)) topics.push(topic);
    }
  }
  if (topics.length > ctx.config.maxTopicsPerConnection) {
    return refuse(400, `?topics= names more than ${ctx.config.maxTopicsPerConnection} topics`, 'too_many_topics');
  }
  if (ctx.auth === null) return { ok: true, info: { topics, user: '', perms: null, expiresAt: undefined } };

  const result = await ctx.auth.verify(Authenticator.tokenOf(url, req.headers));
  if (!result.ok) {
    ctx.metrics.authFailures.inc({ reason: result.reason });
    return { ok: false, status: 401, body: 'unauthorized', reason: 'unauthorized', headers: { 'WWW-Authenticate': 'Bearer' } };
  }
  const { user, perms, expiresAt } = result.identity;
  const denied = topics.find((t) => !allowed(perms, 'sub', t));
  if (denied !== undefined) return refuse(403, `token does not allow subscribing to ${JSON.stringify(denied.slice(0, 50))}`, 'forbidden');
  return { ok: true, info: { topics, user, perms, expiresAt } };
}
