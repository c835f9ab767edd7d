// Protocol v1 end to end: every op, ack and err, on every transport.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Client, openClients, sleep, until } from '../helpers/client.js';
import { startServer, transports, type TestServer } from '../helpers/server.js';

describe.each(transports)('protocol v1 on the %s transport', (transport) => {
  let srv: TestServer;
  const clients: Client[] = [];
  const open = async (query = '') => {
    const c = await Client.open(srv.url + query);
    clients.push(c);
    return c;
  };

  beforeEach(async () => {
    srv = await startServer(transport);
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    await srv.close();
  });

  it('acks a sub with the topic, its current seq and its epoch', async () => {
    const c = await open();
    const ack = await c.request({ op: 'sub', topic: 'room', id: 1 });
    expect(ack).toEqual({ op: 'ack', id: 1, topic: 'room', seq: 0, epoch: expect.any(String) });
  });

  it('delivers a publish to every subscriber with seq 1, 2, 3', async () => {
    const [a, b, p] = [await open(), await open(), await open()];
    await a.request({ op: 'sub', topic: 't', id: 1 });
    await b.request({ op: 'sub', topic: 't', id: 1 });
    for (let i = 1; i <= 3; i++) p.send({ op: 'pub', topic: 't', data: { n: i } });
    for (const c of [a, b]) {
      for (let i = 1; i <= 3; i++) expect(await c.next()).toEqual({ op: 'msg', topic: 't', seq: i, data: { n: i } });
    }
    await p.silent();
  });

  it('keeps data byte for byte: big numbers, escapes, whitespace and unicode', async () => {
    const [a, p] = [await open(), await open()];
    await a.request({ op: 'sub', topic: 'v', id: 1 });
    const data = '{ "big": 123456789012345678901234567890, "f": 1.0e+2, "esc": "\\u00e9\\n\\"", "raw": "é😀",\n\t"arr": [ 1 , 2 ] }';
    p.send(`{"op":"pub","topic":"v","data":${data}}`);
    await a.next();
    expect(a.raw.at(-1)).toBe(`{"op":"msg","topic":"v","seq":1,"data":${data}}`);
  });

  it('delivers scalar data verbatim: strings, numbers, true, false, null', async () => {
    const [a, p] = [await open(), await open()];
    await a.request({ op: 'sub', topic: 's', id: 1 });
    const values = ['"hi"', '-0.5e-3', 'true', 'false', 'null', '[]', '{}'];
    for (const v of values) p.send(`{"data":${v},"topic":"s","op":"pub"}`);
    for (const _ of values) await a.next();
    expect(a.raw.slice(1)).toEqual(values.map((v, i) => `{"op":"msg","topic":"s","seq":${i + 1},"data":${v}}`));
  });

  it('acks a pub with its seq and the number of receivers', async () => {
    const [a, p] = [await open(), await open()];
    await a.request({ op: 'sub', topic: 'x', id: 1 });
    expect(await p.request({ op: 'pub', topic: 'x', data: 1, id: 'p1' })).toEqual({
      op: 'ack',
      id: 'p1',
      topic: 'x',
      seq: 1,
      subscribers: 1,
    });
  });

  it('echoes the id exactly as sent: integer, string, large number', async () => {
    const c = await open();
    c.send('{"op":"sub","topic":"i","id":"abc"}');
    expect((await c.next()).id).toBe('abc');
    c.send('{"op":"sub","topic":"i","id":12345678901234567890}');
    await c.next();
    expect(c.raw.at(-1)).toContain('"id":12345678901234567890,');
  });

  it('sends a publisher its own message unless echo is false', async () => {
    const p = await open();
    await p.request({ op: 'sub', topic: 'e', id: 1 });
    p.send({ op: 'pub', topic: 'e', data: 'mine' });
    expect(await p.next()).toMatchObject({ op: 'msg', seq: 1, data: 'mine' });
    expect(await p.request({ op: 'pub', topic: 'e', data: 'quiet', echo: false, id: 2 })).toMatchObject({
      op: 'ack',
      id: 2,
      seq: 2,
      subscribers: 0,
    });
    await p.silent();
  });

  it('stops delivering after unsub and acks it', async () => {
    const [a, p] = [await open(), await open()];
    await a.request({ op: 'sub', topic: 'u', id: 1 });
    expect(await a.request({ op: 'unsub', topic: 'u', id: 2 })).toEqual({ op: 'ack', id: 2, topic: 'u' });
    await p.request({ op: 'pub', topic: 'u', data: 1, id: 3 });
    await a.silent();
  });

  it('answers unsub of a topic not subscribed with not_subscribed', async () => {
    const c = await open();
    expect(await c.request({ op: 'unsub', topic: 'never', id: 7 })).toEqual({
      op: 'err',
      id: 7,
      code: 'not_subscribed',
      msg: expect.any(String),
    });
  });

  it('subscribes at connect with ?topics=a,b', async () => {
    const a = await open('?topics=a,b');
    const p = await open();
    p.send({ op: 'pub', topic: 'a', data: 1 });
    p.send({ op: 'pub', topic: 'b', data: 2 });
    expect(await a.next()).toMatchObject({ topic: 'a', data: 1 });
    expect(await a.next()).toMatchObject({ topic: 'b', data: 2 });
  });

  it('returns retained history with seq > since, data verbatim', async () => {
    const p = await open();
    for (let i = 1; i <= 5; i++) p.send(`{"op":"pub","topic":"h","data":{"i": ${i}}}`);
    const ack = await p.request({ op: 'history', topic: 'h', since: 3, id: 9 });
    expect(ack).toMatchObject({
      op: 'ack',
      id: 9,
      topic: 'h',
      seq: 5,
      recovered: true,
      messages: [
        { seq: 4, data: { i: 4 } },
        { seq: 5, data: { i: 5 } },
      ],
    });
    expect(p.raw.at(-1)).toContain('{"seq":4,"data":{"i": 4}}');
  });

  it('keeps only --history messages and says recovered:false when since is older', async () => {
    await srv.close();
    srv = await startServer(transport, { history: 3 });
    const p = await open();
    for (let i = 1; i <= 6; i++) p.send({ op: 'pub', topic: 'h', data: i });
    const ack = await p.request({ op: 'history', topic: 'h', since: 1, id: 1 });
    expect(ack).toMatchObject({ seq: 6, recovered: false });
    expect((ack.messages as { seq: number }[]).map((m) => m.seq)).toEqual([4, 5, 6]);
    expect(await p.request({ op: 'history', topic: 'h', since: 3, id: 2 })).toMatchObject({ recovered: true });
  });

  it('recovers on sub with since: ack, retained messages, then live ones, no gap, no duplicate', async () => {
    const p = await open();
    for (let i = 1; i <= 4; i++) p.send({ op: 'pub', topic: 'r', data: i });
    await p.request({ op: 'history', topic: 'r', id: 0 });
    const c = await open();
    c.send({ op: 'sub', topic: 'r', since: 2, id: 1 });
    p.send({ op: 'pub', topic: 'r', data: 5 });
    expect(await c.next()).toMatchObject({ op: 'ack', id: 1, seq: 4, recovered: true });
    const seqs = [];
    for (let i = 0; i < 3; i++) seqs.push((await c.next()).seq);
    expect(seqs).toEqual([3, 4, 5]);
    await c.silent();
  });

  it('recovers with no gap while another client publishes continuously', async () => {
    const p = await open();
    let n = 0;
    const timer = setInterval(() => {
      for (let i = 0; i < 20; i++) p.send({ op: 'pub', topic: 'busy', data: ++n });
    }, 1);
    await sleep(30);
    const c = await open();
    c.send({ op: 'sub', topic: 'busy', since: 0, id: 1 });
    const ack = await c.next();
    await sleep(30);
    clearInterval(timer);
    await p.request({ op: 'history', topic: 'busy', since: 1e9, id: 99 }); // a barrier: everything before it is delivered
    const seqs: number[] = [];
    for (;;) {
      try {
        seqs.push((await c.next(300)).seq as number);
      } catch {
        break;
      }
    }
    const first = Math.max(1, (ack.seq as number) - 99);
    expect(seqs[0]).toBe(first);
    for (let i = 1; i < seqs.length; i++) expect(seqs[i]).toBe(seqs[i - 1]! + 1);
    expect(seqs.at(-1)).toBe(n);
  });

  it("says recovered:false for an epoch that is not the topic's and replays what is retained", async () => {
    const p = await open();
    p.send({ op: 'pub', topic: 'ep', data: 1 });
    const c = await open();
    const ack = await c.request({ op: 'sub', topic: 'ep', since: 1, epoch: 'not-this-one', id: 1 });
    expect(ack).toMatchObject({ recovered: false, seq: 1 });
    expect(await c.next()).toMatchObject({ op: 'msg', seq: 1 });
  });

  it('says recovered:false for a since beyond the current seq', async () => {
    const c = await open();
    expect(await c.request({ op: 'sub', topic: 'fresh', since: 10, id: 1 })).toMatchObject({ recovered: false, seq: 0 });
  });

  it('lists presence: count and clients of a topic', async () => {
    const [a, b, q] = [await open(), await open(), await open()];
    await a.request({ op: 'sub', topic: 'pr', id: 1 });
    await b.request({ op: 'sub', topic: 'pr', id: 1 });
    const ack = await q.request({ op: 'presence', topic: 'pr', id: 3 });
    expect(ack).toMatchObject({ op: 'ack', id: 3, topic: 'pr', count: 2 });
    const list = ack.clients as { client: string; user: string }[];
    expect(list).toHaveLength(2);
    expect(new Set(list.map((x) => x.client)).size).toBe(2);
    expect(await q.request({ op: 'presence', topic: 'nobody', id: 4 })).toMatchObject({ count: 0, clients: [] });
  });

  it('removes a reset subscriber from membership and presence', async () => {
    const [a, b, q] = [await open(), await open(), await open()];
    await a.request({ op: 'sub', topic: 'gone', id: 1 });
    await b.request({ op: 'sub', topic: 'gone', id: 1 });
    a.ws.terminate(); // RST-like: no close handshake
    await until(() => srv.server.hub.connectionCount === 2);
    expect(await q.request({ op: 'presence', topic: 'gone', id: 2 })).toMatchObject({ count: 1 });
    expect(await q.request({ op: 'pub', topic: 'gone', data: 1, id: 3 })).toMatchObject({ subscribers: 1 });
  });

  it('frees every topic and connection when subscribers leave (no growth over 200 cycles)', async () => {
    await srv.close();
    srv = await startServer(transport, { historyTtl: 0 });
    for (let round = 0; round < 4; round++) {
      const batch = await openClients(srv.url + `?topics=x${round},shared`, 50);
      batch[0]!.send({ op: 'pub', topic: 'shared', data: round });
      for (const c of batch) await c.next();
      for (const c of batch) c.close();
    }
    await until(() => srv.server.hub.connectionCount === 0 && srv.server.transport.connectionCount() === 0);
    expect(srv.server.hub.topicCount).toBe(0);
  });

  it('keeps per-topic order under concurrent publishers', async () => {
    const subs = await openClients(srv.url + '?topics=order', 20);
    const pubs = await openClients(srv.url, 4);
    clients.push(...subs, ...pubs);
    const perPub = 50;
    pubs.forEach((p, k) => {
      for (let i = 0; i < perPub; i++) p.send({ op: 'pub', topic: 'order', data: { k, i } });
    });
    for (const s of subs) {
      const lastByPub = [-1, -1, -1, -1];
      for (let n = 1; n <= perPub * 4; n++) {
        const m = await s.next();
        expect(m.seq).toBe(n);
        const d = m.data as { k: number; i: number };
        expect(d.i).toBe(lastByPub[d.k]! + 1); // each publisher's messages arrive in its order
        lastByPub[d.k] = d.i;
      }
    }
    expect(subs[0]!.raw).toEqual(subs[19]!.raw); // every subscriber saw the same sequence
  });

  describe('errors keep the connection usable', () => {
    const cases: [string, string, string][] = [
      ['not JSON', 'hello', 'bad_json'],
      ['truncated JSON', '{"op":"sub"', 'bad_json'],
      ['trailing garbage', '{"op":"sub","topic":"a"} x', 'bad_json'],
      ['a JSON array', '[1,2]', 'bad_json'],
      ['a JSON string', '"sub"', 'bad_json'],
      ['an unknown op', '{"op":"nope","topic":"a","id":1}', 'bad_request'],
      ['a missing op', '{"topic":"a","id":1}', 'bad_request'],
      ['a non-string op', '{"op":1,"topic":"a","id":1}', 'bad_request'],
      ['a missing topic', '{"op":"sub","id":1}', 'bad_request'],
      ['a non-string topic', '{"op":"sub","topic":5,"id":1}', 'bad_request'],
      ['an empty topic', '{"op":"sub","topic":"","id":1}', 'bad_topic'],
      ['a topic with a space', '{"op":"sub","topic":"a b","id":1}', 'bad_topic'],
      ['a topic with non-ASCII', '{"op":"sub","topic":"é","id":1}', 'bad_topic'],
      ['a topic of 201 bytes', `{"op":"sub","topic":"${'t'.repeat(201)}","id":1}`, 'bad_topic'],
      ['a pub without data', '{"op":"pub","topic":"a","id":1}', 'bad_request'],
      ['a non-boolean echo', '{"op":"pub","topic":"a","data":1,"echo":"no","id":1}', 'bad_request'],
      ['a negative since', '{"op":"sub","topic":"a","since":-1,"id":1}', 'bad_request'],
      ['a fractional since', '{"op":"history","topic":"a","since":1.5,"id":1}', 'bad_request'],
      ['an object id', '{"op":"sub","topic":"a","id":{}}', 'bad_request'],
      ['a duplicated member', '{"op":"pub","topic":"a","data":1,"data":2,"id":1}', 'bad_request'],
    ];
    it.each(cases)('answers %s with err %s', async (_name, text, code) => {
      const c = await open();
      c.send(text);
      const err = await c.next();
      expect(err).toMatchObject({ op: 'err', code });
      expect(typeof err.msg).toBe('string');
      expect(await c.request({ op: 'sub', topic: 'ok', id: 42 })).toMatchObject({ op: 'ack', id: 42 });
    });

    it('carries the request id in the err when the request had one', async () => {
      const c = await open();
      expect(await c.request({ op: 'sub', topic: 'bad topic', id: 5 })).toMatchObject({ op: 'err', id: 5, code: 'bad_topic' });
      c.send('{"op":"sub","topic":"bad topic"}');
      const err = await c.next();
      expect(err).not.toHaveProperty('id');
    });

    it('answers a 201-byte topic with bad_topic and accepts exactly 200 bytes', async () => {
      const c = await open();
      expect(await c.request({ op: 'sub', topic: '!'.repeat(200), id: 1 })).toMatchObject({ op: 'ack' });
      expect(await c.request({ op: 'sub', topic: '~'.repeat(201), id: 2 })).toMatchObject({ code: 'bad_topic' });
    });

    it('answers a binary frame with bad_request', async () => {
      const c = await open();
      c.ws.send(Buffer.from('{"op":"sub","topic":"a","id":1}'), { binary: true });
      expect(await c.next()).toMatchObject({ op: 'err', code: 'bad_request' });
    });
  });
});
