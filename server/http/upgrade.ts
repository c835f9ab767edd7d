// Whether to accept a WebSocket upgrade: path, draining, connection limit, ?topics=.
// The RFC 6455 handshake fields were checked by the transport before this runs.
import type { Config } from '../config.js';
import { isValidTopic } from '../protocol/topic.js';
import type { UpgradeDecision, UpgradeRequest } from '../transport/types.js';

export interface UpgradeContext {
  config: Config;
  draining: () => boolean;
  connections: () => number;
}

function refuse(status: number, body: string, reason: string): UpgradeDecision {
  return { ok: false, status, body, reason };
}

export function decideUpgrade(ctx: UpgradeContext, req: UpgradeRequest): UpgradeDecision {
  const url = new URL(req.url, 'http://localhost');
  if (url.pathname !== ctx.config.path) return refuse(404, `no WebSocket endpoint at ${url.pathname.slice(0, 100)}`, 'not_found');
  if (ctx.draining()) return refuse(503, 'server is draining', 'draining');
  const max = ctx.config.maxConnections;
  if (max > 0 && ctx.connections() >= max) return refuse(503, `connection limit of ${max} reached`, 'max_connections');

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
  return { ok: true, info: { topics, user: '' } };
}
