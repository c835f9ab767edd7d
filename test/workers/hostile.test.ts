// --workers 2 against hostile or unlucky clients and timings, on the built CLI, on both
// transports: what a client can make the main thread hold on to, and what it must not.
import { afterEach, describe, expect, it } from 'vitest';
import { sleep } from '../helpers/client.js';
import { startCli, type Running } from '../helpers/cli.js';
import { clientFrame, RawClient } from '../helpers/raw.js';
import { transports } from '../helpers/server.js';

interface Cluster {
  r: Running;
  port: number;
  http: string;
}

const raws: RawClient[] = [];
afterEach(() => {
  for (const c of raws.splice(0)) c.destroy();
});

async function cluster(transport: string, args: string[] = []): Promise<Cluster> {
  const r = startCli(['--port', '0', '--workers', '2', '--transport', transport, '--log-level', 'info', ...args]);
  const line = (await r.listening) as { port: number };
  return { r, port: line.port, http: `http://127.0.0.1:${line.port}` };
}

async function raw(c: Cluster): Promise<RawClient> {
  const client = await RawClient.handshake(c.port);
  raws.push(client);
  return client;
}

const text = (o: object) => clientFrame(0x1, JSON.stringify(o));

async function publish(c: Cluster, topic: string): Promise<Record<string, unknown>> {
  const res = await fetch(`${c.http}/publish`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', connection: 'close' },
    body: JSON.stringify({ topic, data: 1 }),
  });
  return (await res.json()) as Record<string, unknown>;
}

/** Reads text messages until the answer to request `id` (or an error without an id). */
async function answerTo(c: RawClient, id: number): Promise<Record<string, unknown>> {
  for (;;) {
    const m = await c.nextJson(5000);
    if (m.id === id || (m.op === 'err' && m.id === undefined)) return m;
  }
}

describe.each(transports)('--workers 2 against hostile clients on the %s transport', (transport) => {
  it('stops following a topic its worker dropped while the follow was pending (no topic pinned in the broker)', async () => {
    // --max-topics 1: the worker's second topic pushes out the first (vacated, still syncing), so
    // its unfollow reaches the main thread before the follow is answered
    const c = await cluster(transport, ['--max-topics', '1']);
    const a = await raw(c);
    a.write(
      Buffer.concat([
        text({ op: 'sub', topic: 'a', id: 1 }),
        text({ op: 'unsub', topic: 'a', id: 2 }),
        text({ op: 'sub', topic: 'b', id: 3 }),
      ]),
    );
    expect(await answerTo(a, 3)).toMatchObject({ op: 'ack', topic: 'b' });
    a.write(text({ op: 'unsub', topic: 'b', id: 4 }));
    expect(await answerTo(a, 4)).toMatchObject({ op: 'ack', topic: 'b' });
    // once b is no longer followed (the worker's linger), topic a takes the one place
    let first: Record<string, unknown> = {};
    for (let i = 0; i < 100 && first.seq === undefined; i++) {
      first = await publish(c, 'a');
      if (first.seq === undefined) await sleep(200);
    }
    expect(first).toMatchObject({ seq: 1 });
    // nobody follows a: a new topic takes its place
    expect(await publish(c, 'd')).toMatchObject({ seq: 1 });
  }, 30_000);
});
