// The `ws` + Redis peer: what a Node user writes to scale ws-server.mjs out to several
// processes. ioredis as it comes (offline queue, autoResubscribe), one PUBLISH per message with a
// JSON envelope, one SUBSCRIBE per topic while this process has subscribers on it, and every
// process delivers to its own sockets what arrives on the channel. Protocol v1's sub/pub subset,
// as the load generator drives it.
//
// seq: +1 per topic where the publish is handled, as in ws-server.mjs. With every publisher on
// one process (the benchmark's split) that is one order; with publishers on two processes two
// counters would collide. That, history and recovery are what this peer lacks against ringcast's
// broker, so the comparison is about the cross-process fanout path only.
// Usage: node ws-redis.mjs --port P --redis redis://127.0.0.1:6379 [--path /ws] [--prefix ws-redis:]
import http from 'node:http';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { WebSocketServer } from 'ws';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '8080' },
    path: { type: 'string', default: '/ws' },
    redis: { type: 'string', default: 'redis://127.0.0.1:6379' },
    prefix: { type: 'string', default: 'ws-redis:' },
  },
});

const pub = new Redis(values.redis);
const sub = new Redis(values.redis);

/** @type {Map<string, Set<import('ws').WebSocket>>} this process's sockets per topic */
const topics = new Map();
/** @type {Map<string, Promise<unknown>>} SUBSCRIBE under way or done, per topic */
const subscribed = new Map();
/** @type {Map<string, number>} highest seq published here or seen on the channel, per topic */
const seqs = new Map();

const channel = (topic) => values.prefix + topic;

/** Resolves once Redis confirmed the channel, so nothing published after the ack is missed. */
function subscribe(ws, topic) {
  let members = topics.get(topic);
  if (!members) topics.set(topic, (members = new Set()));
  members.add(ws);
  ws.topics.add(topic);
  if (!subscribed.has(topic)) subscribed.set(topic, sub.subscribe(channel(topic)));
  return subscribed.get(topic);
}

function unsubscribe(ws, topic) {
  const members = topics.get(topic);
  members?.delete(ws);
  ws.topics.delete(topic);
  if (members?.size === 0) {
    topics.delete(topic);
    subscribed.delete(topic);
    sub.unsubscribe(channel(topic)).catch(() => {});
  }
}

async function publish(topic, data) {
  const seq = (seqs.get(topic) ?? 0) + 1;
  seqs.set(topic, seq);
  await pub.publish(channel(topic), JSON.stringify({ topic, seq, data }));
  return seq;
}

sub.on('message', (_channel, envelope) => {
  const { topic, seq, data } = JSON.parse(envelope);
  if (seq > (seqs.get(topic) ?? 0)) seqs.set(topic, seq);
  const members = topics.get(topic);
  if (!members) return;
  const frame = JSON.stringify({ op: 'msg', topic, seq, data });
  for (const member of members) member.send(frame);
});

function reply(ws, id, body) {
  if (id !== undefined) ws.send(JSON.stringify({ ...body, id }));
}

async function onMessage(ws, raw) {
  let msg;
  try {
    msg = JSON.parse(raw);
  } catch {
    return ws.send(JSON.stringify({ op: 'err', code: 'bad_json', msg: 'not JSON' }));
  }
  const { op, topic, id } = msg;
  if (typeof topic !== 'string' || topic.length === 0) {
    return reply(ws, id, { op: 'err', code: 'bad_topic', msg: 'topic required' });
  }
  try {
    if (op === 'sub') {
      await subscribe(ws, topic);
      return reply(ws, id, { op: 'ack', seq: seqs.get(topic) ?? 0 });
    }
    if (op === 'unsub') {
      unsubscribe(ws, topic);
      return reply(ws, id, { op: 'ack' });
    }
    if (op === 'pub') return reply(ws, id, { op: 'ack', seq: await publish(topic, msg.data) });
  } catch (err) {
    return reply(ws, id, { op: 'err', code: 'unavailable', msg: err.message });
  }
  reply(ws, id, { op: 'err', code: 'bad_request', msg: 'unknown op' });
}

const server = http.createServer((_req, res) => res.writeHead(404).end());
const wss = new WebSocketServer({ server, path: values.path });

wss.on('connection', (ws, req) => {
  ws.topics = new Set();
  const wanted = new URL(req.url, 'http://x').searchParams.get('topics');
  for (const topic of wanted ? wanted.split(',') : []) if (topic) subscribe(ws, topic).catch(() => {});
  ws.on('message', (raw) => onMessage(ws, raw));
  ws.on('close', () => {
    for (const topic of [...ws.topics]) unsubscribe(ws, topic);
  });
});

// Listen once Redis answers, so "port open" means ready, as for the other servers.
await Promise.all([pub.ping(), sub.ping()]);
server.listen(Number(values.port), '127.0.0.1', () => {
  console.log(JSON.stringify({ peer: 'ws-redis', listening: true, port: server.address().port }));
});
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(0));
