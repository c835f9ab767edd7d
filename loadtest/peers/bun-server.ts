// The Bun peer: protocol v1's sub/pub subset on Bun.serve, fanout through server.publish
// (uWebSockets' topic tree underneath), the way a Bun user would write it.
// Usage: bun bun-server.ts --port P [--path /ws] [--deflate on|off]

type Conn = { topics: string[] };

function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

const path = flag('--path', '/ws');
const seqs = new Map<string, number>(); // seq per topic, +1 per publish (protocol v1)

const server = Bun.serve<Conn>({
  hostname: '127.0.0.1',
  port: Number(flag('--port', '8080')),
  fetch(req, srv) {
    const url = new URL(req.url);
    if (url.pathname !== path) return new Response('not found', { status: 404 });
    const topics = (url.searchParams.get('topics') ?? '').split(',').filter(Boolean);
    if (srv.upgrade(req, { data: { topics } })) return undefined;
    return new Response('upgrade required', { status: 426 });
  },
  websocket: {
    // The benchmark holds idle connections longer than Bun's default 120 s would allow.
    idleTimeout: 0,
    // --deflate on: Bun's permessage-deflate (uWebSockets compresses on publish per subscriber)
    perMessageDeflate: flag('--deflate', 'off') === 'on',
    open(ws) {
      for (const topic of ws.data.topics) ws.subscribe(topic);
    },
    message(ws, raw) {
      let msg: { op?: string; topic?: unknown; data?: unknown; id?: number };
      try {
        msg = JSON.parse(String(raw));
      } catch {
        ws.send(JSON.stringify({ op: 'err', code: 'bad_json', msg: 'not JSON' }));
        return;
      }
      const { op, topic, id } = msg;
      const reply = (body: object) => {
        if (id !== undefined) ws.send(JSON.stringify({ ...body, id }));
      };
      if (typeof topic !== 'string' || topic.length === 0) {
        return reply({ op: 'err', code: 'bad_topic', msg: 'topic required' });
      }
      if (op === 'sub') {
        ws.subscribe(topic);
        return reply({ op: 'ack', seq: seqs.get(topic) ?? 0 });
      }
      if (op === 'unsub') {
        ws.unsubscribe(topic);
        return reply({ op: 'ack' });
      }
      if (op === 'pub') {
        const seq = (seqs.get(topic) ?? 0) + 1;
        seqs.set(topic, seq);
        server.publish(topic, JSON.stringify({ op: 'msg', topic, seq, data: msg.data }));
        return reply({ op: 'ack', seq });
      }
      reply({ op: 'err', code: 'bad_request', msg: 'unknown op' });
    },
  },
});

console.log(JSON.stringify({ peer: 'bun', listening: true, port: server.port }));
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => process.exit(0));
