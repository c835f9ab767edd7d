// The protocol additions the client relies on, on every transport: the client-level ping, the
// idempotency key of pub and POST /publish, and join/leave events for subscribers that ask
// (bounded per burst).
import { describe, expect, it } from 'vitest';
import { serverFixture, transports } from '../helpers/server.js';

describe.each(transports)('protocol additions on the %s transport', (transport) => {
  const f = serverFixture(transport);
  const open = (query = '') => f.open(query);
  const post = (body: unknown, headers: Record<string, string> = {}) =>
    fetch(`${f.srv.http}/publish`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify(body),
    });

  it('answers a ping with an ack carrying only its id; a ping without id gets nothing', async () => {
    await f.start();
    const c = await open();
    c.send('{"op":"ping"}');
    c.send('{"op":"ping","id":7}');
    expect(await c.next()).toEqual({ op: 'ack', id: 7 });
    expect(c.raw).toEqual(['{"op":"ack","id":7}']);
  });

  it('publishes a keyed pub once: a repeat returns the first seq and delivers nothing', async () => {
    await f.start();
    const [sub, p] = [await open(), await open()];
    await sub.request({ op: 'sub', topic: 'k', id: 1 });
    expect(await p.request({ op: 'pub', topic: 'k', data: 'a', key: 'x1', id: 1 })).toEqual({
      op: 'ack',
      id: 1,
      topic: 'k',
      seq: 1,
      subscribers: 1,
    });
    expect(await p.request({ op: 'pub', topic: 'k', data: 'a', key: 'x1', id: 2 })).toEqual({
      op: 'ack',
      id: 2,
      topic: 'k',
      seq: 1,
      subscribers: 0,
      duplicate: true,
    });
    expect(await p.request({ op: 'pub', topic: 'other', data: 'a', key: 'x1', id: 3 })).toMatchObject({ seq: 1, subscribers: 0 });
    expect(await p.request({ op: 'pub', topic: 'k', data: 'b', key: 'x2', id: 4 })).toMatchObject({ seq: 2, subscribers: 1 });
    expect(await sub.next()).toMatchObject({ op: 'msg', seq: 1, data: 'a' });
    expect(await sub.next()).toMatchObject({ op: 'msg', seq: 2, data: 'b' });
    await sub.silent();
    expect(await p.request({ op: 'pub', topic: 'k', data: 1, key: 'has space', id: 5 })).toMatchObject({
      op: 'err',
      id: 5,
      code: 'bad_request',
    });
    expect(await p.request({ op: 'pub', topic: 'k', data: 1, key: 5, id: 6 })).toMatchObject({ op: 'err', id: 6, code: 'bad_request' });
  });

  it('takes Idempotency-Key on POST /publish, shared with the key of pub', async () => {
    await f.start();
    const sub = await open();
    await sub.request({ op: 'sub', topic: 'h', id: 1 });
    const first = await post({ topic: 'h', data: 1 }, { 'idempotency-key': 'req-1' });
    expect(await first.json()).toEqual({ seq: 1, subscribers: 1 });
    const again = await post({ topic: 'h', data: 1 }, { 'idempotency-key': 'req-1' });
    expect(await again.json()).toEqual({ seq: 1, subscribers: 0, duplicate: true });
    const p = await open();
    expect(await p.request({ op: 'pub', topic: 'h', data: 1, key: 'req-1', id: 1 })).toMatchObject({ seq: 1, duplicate: true });
    expect((await post({ topic: 'h', data: 1 }, { 'idempotency-key': 'a b' })).status).toBe(400);
    expect(await sub.next()).toMatchObject({ op: 'msg', seq: 1 });
    await sub.silent();
    expect(await (await fetch(`${f.srv.http}/metrics`)).text()).toMatch(/^ringcast_duplicate_publishes_total 2$/m);
  });

  it('forgets a key after --idempotency-ttl', async () => {
    await f.start({ idempotencyTtl: 1 });
    const p = await open();
    expect(await p.request({ op: 'pub', topic: 'ttl', data: 1, key: 'k', id: 1 })).toMatchObject({ seq: 1 });
    await new Promise((r) => setTimeout(r, 1100));
    expect(await p.request({ op: 'pub', topic: 'ttl', data: 1, key: 'k', id: 2 })).toMatchObject({ seq: 2, subscribers: 0 });
  });

  it('sends join and leave events to a subscriber that asked, once per change, with client and user', async () => {
    await f.start();
    const w = await open();
    const ack = await w.request({ op: 'sub', topic: 'room', presence: true, id: 1 });
    expect(ack).toEqual({ op: 'ack', id: 1, topic: 'room', seq: 0, epoch: expect.any(String), client: expect.stringMatching(/^c/) });
    const quiet = await open();
    await quiet.request({ op: 'sub', topic: 'room', id: 1 }); // did not ask: gets no events
    const join = await w.next();
    expect(join).toEqual({ op: 'join', topic: 'room', client: expect.stringMatching(/^c/), user: '' });
    await quiet.request({ op: 'sub', topic: 'room', id: 2 }); // already a member: no second join
    const b = await open('?topics=room');
    const joinB = await w.next();
    expect(joinB).toMatchObject({ op: 'join', topic: 'room' });
    const presence = await w.request({ op: 'presence', topic: 'room', id: 9 });
    expect((presence.clients as { client: string }[]).map((m) => m.client).sort()).toEqual([ack.client, join.client, joinB.client].sort());
    await quiet.request({ op: 'unsub', topic: 'room', id: 3 });
    expect(await w.next()).toEqual({ op: 'leave', topic: 'room', client: join.client, user: '' });
    b.close();
    expect(await w.next()).toEqual({ op: 'leave', topic: 'room', client: joinB.client, user: '' });
    await w.silent();
    await quiet.silent();
    expect(await w.request({ op: 'sub', topic: 'room', presence: 'yes', id: 4 })).toMatchObject({ op: 'err', id: 4, code: 'bad_request' });
  });

  it('bounds the events of a burst of connects by --presence-events per second, then sends one presence_sync', async () => {
    await f.start({ presenceEvents: 5 });
    const w = await open();
    await w.request({ op: 'sub', topic: 'busy', presence: true, id: 1 });
    await Promise.all(Array.from({ length: 20 }, () => f.open('?topics=busy')));
    const got = [];
    for (let i = 0; i < 6; i++) got.push(await w.next(3000));
    expect(got.slice(0, 5).every((m) => m.op === 'join')).toBe(true);
    expect(got[5]).toEqual({ op: 'presence_sync', topic: 'busy', count: 21, dropped: 15 });
    await w.silent(200);
    expect(await (await fetch(`${f.srv.http}/metrics`)).text()).toMatch(/^ringcast_presence_events_dropped_total 15$/m);
  });
});
