// The ops page's read-only view of one hub: its busiest topics and one user's connections.
// Nothing here runs per message: a view is computed when the ops sampler or a lookup asks (once a
// second while a page is open), by walking what the hub already keeps.
import type { Conn } from '../hub/conn.js';
import type { Hub } from '../hub/hub.js';
import type { TopicStore } from '../hub/topics.js';
import type { OpsAnswer, OpsAsk, TopicRow, UserConn } from './types.js';

/**
 * The hub keeps its store and connections private and has no read-only accessor yet; until it
 * does (server/hub is another owner's), they are read through TypeScript's element-access escape
 * and never written.
 */
function store(hub: Hub): TopicStore {
  return hub['topics'];
}

function conns(hub: Hub): readonly (Conn | undefined)[] {
  return hub['conns'];
}

/** The `limit` topics with the most local subscribers whose name contains `q`, busiest first. */
export function busiestTopics(hub: Hub, q: string, limit: number): TopicRow[] {
  const topics = store(hub);
  const top: TopicRow[] = [];
  for (const name of topics.names()) {
    if (q !== '' && !name.includes(q)) continue;
    const topic = topics.get(name);
    if (topic === undefined) continue;
    const n = topic.members.count;
    // a small sorted array: limit is at most a few dozen, the walk is over every topic
    if (top.length === limit && n <= top[limit - 1]!.subscribers) continue;
    let i = top.length;
    while (i > 0 && top[i - 1]!.subscribers < n) i--;
    top.splice(i, 0, { topic: name, subscribers: n, seq: topic.seq });
    if (top.length > limit) top.pop();
  }
  return top;
}

/** The connections of `user` (its JWT `sub`), at most `limit`. */
export function userConnections(hub: Hub, user: string, limit: number, worker: number | null): UserConn[] {
  const out: UserConn[] = [];
  for (const conn of conns(hub)) {
    if (conn === undefined || conn.user !== user) continue;
    out.push({ user, conn: conn.id, topics: conn.topics().map((t) => t.name), worker });
    if (out.length === limit) break;
  }
  return out;
}

export function answer(hub: Hub, ask: OpsAsk, worker: number | null): OpsAnswer {
  switch (ask.kind) {
    case 'topics':
      return { kind: 'topics', rows: busiestTopics(hub, ask.q, ask.limit) };
    case 'user':
      return { kind: 'user', conns: userConnections(hub, ask.name, ask.limit, worker) };
    case 'ping':
      return { kind: 'pong' };
  }
}

/** Rows of several hubs (the workers) as one: subscribers added up, the highest seq. */
export function mergeTopics(parts: TopicRow[][], limit: number): TopicRow[] {
  const byName = new Map<string, TopicRow>();
  for (const rows of parts)
    for (const r of rows) {
      const seen = byName.get(r.topic);
      if (seen === undefined) byName.set(r.topic, { ...r });
      else {
        seen.subscribers += r.subscribers;
        seen.seq = Math.max(seen.seq, r.seq);
      }
    }
  return [...byName.values()].sort((a, b) => b.subscribers - a.subscribers || a.topic.localeCompare(b.topic)).slice(0, limit);
}
