// The `ws` peer: protocol v1's sub/pub subset written the way a ws user would write it.
// Each topic is a Set of sockets; a publish is stringified once and sent to each member.
// Usage: node ws-server.mjs --port P [--path /ws] [--deflate on|off]
import http from 'node:http';
import { parseArgs } from 'node:util';
import { WebSocketServer } from 'ws';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '8080' },
    path: { type: 'string', default: '/ws' },
    deflate: { type: 'string', default: 'off' },
  },
});

/** @type {Map<string, Set<import('ws').WebSocket>>} */
const topics = new Map();
/** @type {Map<string, number>} seq per topic, +1 per publish (protocol v1) */
const seqs = new Map();

function subscribe(ws, topic) {
  let members = topics.get(topic);
  if (!members) topics.set(topic, (members = new Set()));
  members.add(ws);
  ws.topics.add(topic);
}

function publish(topic, data) {
  const seq = (seqs.get(topic) ?? 0) + 1;
  seqs.set(topic, seq);
  const frame = JSON.stringify({ op: 'msg', topic, seq, data });
  for (const member of topics.get(topic) ?? []) member.send(frame);
  return seq;
}

function reply(ws, id, body) {
  if (id !== undefined) ws.send(JSON.stringify({ ...body, id }));
}

function onMessage(ws, raw) {
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
  if (op === 'sub') {
    subscribe(ws, topic);
    return reply(ws, id, { op: 'ack', seq: seqs.get(topic) ?? 0 });
  }
  if (op === 'unsub') {
    topics.get(topic)?.delete(ws);
    ws.topics.delete(topic);
    return reply(ws, id, { op: 'ack' });
  }
  if (op === 'pub') return reply(ws, id, { op: 'ack', seq: publish(topic, msg.data) });
  reply(ws, id, { op: 'err', code: 'bad_request', msg: 'unknown op' });
}

const server = http.createServer((_req, res) => res.writeHead(404).end());
// --deflate on: ws's permessage-deflate as a ws user turns it on (per-socket compression, ws's
// default 1 KiB threshold and its zlib concurrency limit of 10).
const wss = new WebSocketServer({ server, path: values.path, perMessageDeflate: values.deflate === 'on' });

wss.on('connection', (ws, req) => {
  ws.topics = new Set();
  const wanted = new URL(req.url, 'http://x').searchParams.get('topics');
  for (const topic of wanted ? wanted.split(',') : []) if (topic) subscribe(ws, topic);
  ws.on('message', (raw) => onMessage(ws, raw));
  ws.on('close', () => {
    for (const topic of ws.topics) topics.get(topic)?.delete(ws);
  });
});

server.listen(Number(values.port), '127.0.0.1', () => {
  console.log(JSON.stringify({ peer: 'ws', listening: true, port: server.address().port }));
});
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(0));
