// The ops server of one process: its guard, its stream, its topics and its user lookup, on the
// built CLI with a real WebSocket client.
import { SignJWT } from 'jose';
import { createServer, type AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { startCli, type Running } from '../helpers/cli.js';
import { Client } from '../helpers/client.js';
import { bearer, EventStream, opsPort } from './helpers.js';

const KEY = 'ops-test-key-1';
const SECRET = 'ops-test-secret-0123456789';
const token = (claims: Record<string, unknown>) =>
  new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('1h').sign(new TextEncoder().encode(SECRET));

const streams: EventStream[] = [];
const clients: Client[] = [];
afterEach(() => {
  for (const s of streams.splice(0)) s.close();
  for (const c of clients.splice(0)) c.close();
});

function stream(port: number, headers: Record<string, string>): EventStream {
  const s = new EventStream(port, headers);
  streams.push(s);
  return s;
}

async function start(extra: string[] = []): Promise<{ r: Running; port: number; ws: string }> {
  const r = startCli(['--port', '0', '--transport', 'ws', '--ops', '--ops-port', '0', '--api-key', KEY, '--jwt-secret', SECRET, ...extra]);
  const listening = await r.listening;
  return { r, port: await opsPort(r), ws: `ws://127.0.0.1:${listening.port as number}/ws` };
}

describe('the ops server', () => {
  it('serves nothing without the key: no stream, no topics, no user; the page itself holds no data', async () => {
    const { port } = await start();
    for (const path of ['/ops/events', '/ops/topics?q=a', '/ops/user?name=alice']) {
      expect((await fetch(`http://127.0.0.1:${port}${path}`)).status).toBe(401);
      expect((await fetch(`http://127.0.0.1:${port}${path}`, { headers: bearer('wrong-key-1') })).status).toBe(401);
      // a client token is not an admin token
      expect((await fetch(`http://127.0.0.1:${port}${path}`, { headers: bearer(await token({ sub: 'alice' })) })).status).toBe(401);
    }
    const page = await fetch(`http://127.0.0.1:${port}/ops`);
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain('id="login-form"');
    expect(html).not.toContain(KEY);
  });

  it('streams one JSON line a second to the key or an admin token, the first with the last minutes', async () => {
    const { port } = await start();
    const s = stream(port, bearer(KEY));
    await s.ready;
    expect(s.status).toBe(200);
    const first = await s.until(() => true);
    expect(first.history?.length).toBeGreaterThan(0);
    expect(first.self).toMatchObject({ transport: 'ws', state: 'up', broker: { broker: 'memory', state: 'up' }, workers: [] });
    const later = await s.until((e) => e.t > first.t && e.history === undefined);
    expect(later.t - first.t).toBeGreaterThanOrEqual(500);
    const admin = stream(port, bearer(await token({ sub: 'ops', admin: true })));
    await admin.ready;
    expect(admin.status).toBe(200);
  });

  it('shows connections, the busiest topics with their seq, and finds a user with their topics', async () => {
    const { port, ws } = await start();
    const s = stream(port, bearer(KEY));
    await s.ready;
    const alice = await Client.open(`${ws}?topics=room-1,room-2&token=${await token({ sub: 'alice' })}`);
    const bob = await Client.open(`${ws}?topics=room-1&token=${await token({ sub: 'bob' })}`);
    clients.push(alice, bob);
    alice.send({ op: 'pub', topic: 'room-1', data: 'hi', id: 1 });
    const e = await s.until((x) => x.point.connections === 2 && x.topics.some((t) => t.topic === 'room-1' && t.seq === 1));
    expect(e.topics[0]).toEqual({ topic: 'room-1', subscribers: 2, seq: 1 });
    expect(e.topics).toContainEqual({ topic: 'room-2', subscribers: 1, seq: 0 });

    const found = (await (await fetch(`http://127.0.0.1:${port}/ops/user?name=alice`, { headers: bearer(KEY) })).json()) as {
      connections: { user: string; topics: string[]; worker: number | null; node: string }[];
    };
    expect(found.connections).toHaveLength(1);
    expect(found.connections[0]).toMatchObject({ user: 'alice', worker: null });
    expect(found.connections[0]!.topics.sort()).toEqual(['room-1', 'room-2']);

    const search = (await (await fetch(`http://127.0.0.1:${port}/ops/topics?q=m-2`, { headers: bearer(KEY) })).json()) as {
      topics: { topic: string }[];
    };
    expect(search.topics.map((t) => t.topic)).toEqual(['room-2']);
    expect((await fetch(`http://127.0.0.1:${port}/ops/user?name=`, { headers: bearer(KEY) })).status).toBe(400);
  });

  it('fails the start (exit 1, naming the port) when either port is taken, instead of serving half', async () => {
    const blocker = createServer();
    await new Promise<void>((res) => blocker.listen(0, '127.0.0.1', res));
    const taken = (blocker.address() as AddressInfo).port;
    try {
      for (const ports of [
        ['--port', '0', '--ops-port', String(taken)],
        ['--port', String(taken), '--ops-port', '0'],
      ]) {
        const r = startCli([...ports, '--transport', 'ws', '--ops', '--api-key', KEY]);
        expect(await r.exited).toBe(1);
        expect(JSON.stringify(r.lines)).toContain(`${taken}`);
      }
    } finally {
      blocker.close();
    }
  });

  it("holds at most --ops-max-viewers streams, and gives a closed one's place back", async () => {
    const { port } = await start(['--ops-max-viewers', '1']);
    const a = stream(port, bearer(KEY));
    await a.ready;
    await a.until(() => true);
    const b = stream(port, bearer(KEY));
    await b.ready;
    expect(b.status).toBe(503);
    a.close();
    const deadline = Date.now() + 20_000;
    let status = 0;
    while (status !== 200 && Date.now() < deadline) {
      const c = stream(port, bearer(KEY));
      await c.ready;
      status = c.status;
      if (status !== 200) await new Promise((r) => setTimeout(r, 100));
    }
    expect(status).toBe(200);
  });
});
