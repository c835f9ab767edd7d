// HTTP on the WebSocket port: POST /publish, /healthz, /metrics, and drain, on every transport.
import { afterEach, describe, expect, it } from 'vitest';
import { connect } from 'node:net';
import { Client, sleep, until } from '../helpers/client.js';
import { rawHttp } from '../helpers/raw.js';
import { startServer, transports, type TestServer } from '../helpers/server.js';

describe.each(transports)('HTTP API on the %s transport', (transport) => {
  let srv: TestServer;
  const clients: Client[] = [];
  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    await srv.close();
  });
  const post = (body: string | Buffer, contentType: string | null = 'application/json', path = '/publish') =>
    fetch(`${srv.http}${path}`, {
      method: 'POST',
      body: typeof body === 'string' ? body : new Uint8Array(body),
      headers: contentType ? { 'content-type': contentType } : {},
    });

  describe('POST /publish', () => {
    it('publishes to subscribers with data verbatim and answers seq and subscribers', async () => {
      srv = await startServer(transport);
      const c = await Client.open(srv.url + '?topics=news');
      clients.push(c);
      const res = await post('{"topic":"news","data":{"n": 1.50, "big": 99999999999999999999}}');
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ seq: 1, subscribers: 1 });
      await c.next();
      expect(c.raw[0]).toBe('{"op":"msg","topic":"news","seq":1,"data":{"n": 1.50, "big": 99999999999999999999}}');
    });

    it('accepts application/json with a charset parameter', async () => {
      srv = await startServer(transport);
      expect((await post('{"topic":"t","data":1}', 'application/json; charset=utf-8')).status).toBe(200);
    });

    it.each([
      ['invalid JSON', '{"topic":', 'bad_json'],
      ['a JSON array', '[]', 'bad_json'],
      ['a missing topic', '{"data":1}', 'bad_request'],
      ['a bad topic', '{"topic":"a b","data":1}', 'bad_topic'],
      ['missing data', '{"topic":"a"}', 'bad_request'],
    ])('answers %s with 400 %s', async (_name, body, code) => {
      srv = await startServer(transport);
      const res = await post(body);
      expect(res.status).toBe(400);
      expect(await res.json()).toMatchObject({ error: code });
    });

    it('answers a body that is not UTF-8 with 400', async () => {
      srv = await startServer(transport);
      const res = await post(Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d]));
      expect(res.status).toBe(400);
    });

    it('answers a body past --max-payload with 413, by Content-Length or by streaming', async () => {
      srv = await startServer(transport, { maxPayload: 1000 });
      const body = `{"topic":"t","data":"${'x'.repeat(1000)}"}`;
      expect((await post(body)).status).toBe(413);
      const chunked = await rawHttp(
        srv.port,
        `POST /publish HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n${(2000).toString(16)}\r\n${'y'.repeat(2000)}\r\n0\r\n\r\n`,
      );
      expect(chunked).toMatch(/^HTTP\/1\.1 413 /);
      // Small chunks that only together pass the limit.
      const many = Array.from({ length: 20 }, () => `64\r\n${'z'.repeat(100)}\r\n`).join('');
      const summed = await rawHttp(
        srv.port,
        `POST /publish HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n${many}0\r\n\r\n`,
      );
      expect(summed).toMatch(/^HTTP\/1\.1 413 /);
    });

    const chunkedHead = 'POST /publish HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n';

    it('accepts a chunked body sent in pieces, with extensions and trailers, then serves the next request', async () => {
      srv = await startServer(transport);
      const c = await Client.open(srv.url + '?topics=news');
      clients.push(c);
      const socket = connect(srv.port, '127.0.0.1');
      let got = '';
      socket.on('data', (d: Buffer) => (got += d.toString('latin1')));
      await new Promise((resolve) => socket.once('connect', resolve));
      const doc = '{"topic":"news","data":{"text":"in pieces"}}';
      const wire =
        chunkedHead +
        `a;part=1\r\n${doc.slice(0, 10)}\r\n${(doc.length - 10).toString(16)}\r\n${doc.slice(10)}\r\n0\r\nX-Checksum: 1\r\n\r\n`;
      for (let at = 0; at < wire.length; at += 9) {
        socket.write(wire.slice(at, at + 9));
        await sleep(2);
      }
      await until(() => got.includes('"subscribers":1}'));
      expect(got).toMatch(/^HTTP\/1\.1 200 /);
      expect(got).toContain('{"seq":1,"subscribers":1}');
      await c.next();
      expect(c.raw[0]).toBe('{"op":"msg","topic":"news","seq":1,"data":{"text":"in pieces"}}');
      got = '';
      socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
      await until(() => /^HTTP\/1\.1 200 /.test(got));
      socket.destroy();
    });

    it('accepts a streamed fetch body (chunked on the wire)', async () => {
      srv = await startServer(transport);
      const parts = ['{"topic":"s",', '"data":[1,2,3]}'];
      const body = new ReadableStream({
        start(controller) {
          for (const p of parts) controller.enqueue(new TextEncoder().encode(p));
          controller.close();
        },
      });
      const res = await fetch(`${srv.http}/publish`, {
        method: 'POST',
        body,
        headers: { 'content-type': 'application/json' },
        duplex: 'half',
      } as RequestInit);
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ seq: 1, subscribers: 0 });
    });

    it.each([
      ['chunk data longer than its size', `${chunkedHead}3\r\nabcd\r\n0\r\n\r\n`],
      ['a chunk size that is not hex', `${chunkedHead}zz\r\nabc\r\n0\r\n\r\n`],
      [
        'Transfer-Encoding beside Content-Length',
        chunkedHead.replace('\r\n\r\n', '\r\nContent-Length: 5\r\n\r\n') + '5\r\nhello\r\n0\r\n\r\n',
      ],
      ['a transfer coding other than chunked', chunkedHead.replace('chunked', 'gzip')],
    ])('answers %s with 400', async (_name, request) => {
      srv = await startServer(transport);
      expect(await rawHttp(srv.port, request)).toMatch(/^HTTP\/1\.1 400 /);
    });

    it.each([['text/plain'], ['application/x-www-form-urlencoded'], [null]])('answers Content-Type %s with 415', async (type) => {
      srv = await startServer(transport);
      expect((await post('{"topic":"t","data":1}', type)).status).toBe(415);
    });

    it('answers other methods with 405 and Allow: POST', async () => {
      srv = await startServer(transport);
      const res = await fetch(`${srv.http}/publish`);
      expect(res.status).toBe(405);
      expect(res.headers.get('allow')).toBe('POST');
      expect((await fetch(`${srv.http}/publish`, { method: 'PUT', body: '{}' })).status).toBe(405);
    });

    it('serves several requests on one keep-alive connection', async () => {
      srv = await startServer(transport);
      const req = 'POST /publish HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 22\r\n\r\n{"topic":"k","data":1}';
      const text = await rawHttp(srv.port, req + req + 'GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      expect(text.match(/HTTP\/1\.1 200/g)).toHaveLength(3);
      expect(text).toContain('{"seq":2,"subscribers":0}');
    });
  });

  it('answers HEAD /healthz with headers and no body, keeping the connection usable', async () => {
    srv = await startServer(transport);
    const text = await rawHttp(
      srv.port,
      'HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
    );
    const [head, rest] = [text.slice(0, text.indexOf('\r\n\r\n') + 4), text.slice(text.indexOf('\r\n\r\n') + 4)];
    expect(head).toMatch(/^HTTP\/1\.1 200/);
    expect(head).toMatch(/content-length: 15/i);
    expect(rest).toMatch(/^HTTP\/1\.1 200/); // the next response follows at once: no body in between
    expect(rest).toContain('{"status":"ok"}');
  });

  it('answers Expect: 100-continue before the body arrives', async () => {
    srv = await startServer(transport);
    const socket = connect(srv.port, '127.0.0.1').on('error', () => undefined);
    await new Promise((r) => socket.once('connect', r));
    let acc = '';
    socket.on('data', (d: Buffer) => {
      acc += d.toString('latin1');
    });
    socket.write(
      'POST /publish HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 22\r\nExpect: 100-continue\r\n\r\n',
    );
    await until(() => acc.includes('100 Continue'));
    socket.write('{"topic":"k","data":1}');
    await until(() => acc.includes('{"seq":1'));
    socket.destroy();
  });

  it('answers 404 for an unknown path', async () => {
    srv = await startServer(transport);
    expect((await fetch(`${srv.http}/nope`)).status).toBe(404);
  });

  it('answers GET /healthz with 200', async () => {
    srv = await startServer(transport);
    const res = await fetch(`${srv.http}/healthz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok' });
  });

  it('serves Prometheus metrics that count connections, messages and deliveries', async () => {
    srv = await startServer(transport);
    const [a, b] = [await Client.open(srv.url + '?topics=m'), await Client.open(srv.url + '?topics=m')];
    clients.push(a, b);
    a.send({ op: 'pub', topic: 'm', data: 'x' });
    await a.next();
    await b.next();
    await sleep(20);
    const res = await fetch(`${srv.http}/metrics`);
    expect(res.headers.get('content-type')).toContain('text/plain');
    const text = await res.text();
    expect(text).toContain(`ringcast_connections{transport="${transport}"} 2`);
    expect(text).toContain('ringcast_messages_in_total 1');
    expect(text).toContain('ringcast_deliveries_total 2');
    expect(text).toMatch(/ringcast_bytes_out_total \d+/);
    expect(text).toContain('ringcast_slow_consumer_closes_total 0');
    expect(text).toMatch(/ringcast_publish_to_write_seconds_count 1/);
    expect(text).toContain('nodejs_eventloop_lag_seconds');
  });

  it.runIf(transport === 'uring')('exposes the ring counters: enters, SQEs submitted, CQEs reaped, sends', async () => {
    srv = await startServer(transport);
    const c = await Client.open(srv.url + '?topics=r');
    clients.push(c);
    c.send({ op: 'pub', topic: 'r', data: 1 });
    await c.next();
    const text = await (await fetch(`${srv.http}/metrics`)).text();
    const value = (name: string) => Number(new RegExp(`^${name} (\\d+)`, 'm').exec(text)?.[1] ?? NaN);
    expect(value('ringcast_ring_enters_total')).toBeGreaterThan(0);
    expect(value('ringcast_ring_sqes_submitted_total')).toBeGreaterThan(0);
    expect(value('ringcast_ring_cqes_reaped_total')).toBeGreaterThan(0);
    expect(value('ringcast_ring_sends_total')).toBeGreaterThan(0);
    expect(value('ringcast_ring_recv_enobufs_total')).toBe(0);
    expect(text).toMatch(/^ringcast_ring_bytes_queued \d+/m);
  });

  describe('drain', () => {
    it('answers /healthz with 503 and refuses upgrades during --drain-delay, then closes clients with 1001', async () => {
      srv = await startServer(transport, { drainDelay: 400 });
      const c = await Client.open(srv.url + '?topics=d');
      clients.push(c);
      const draining = srv.server.drain();
      await sleep(50);
      const health = await fetch(`${srv.http}/healthz`);
      expect(health.status).toBe(503);
      expect(await health.json()).toEqual({ status: 'draining' });
      await expect(Client.open(srv.url)).rejects.toThrow('HTTP 503');
      expect((await post('{"topic":"d","data":1}')).status).toBe(503);
      const closed = await c.closed;
      expect(closed.code).toBe(1001);
      await draining;
    });

    it('flushes frames queued before the drain ahead of the 1001', async () => {
      srv = await startServer(transport);
      const c = await Client.open(srv.url + '?topics=f');
      clients.push(c);
      for (let i = 0; i < 100; i++) srv.server.hub.publish('f', Buffer.from(String(i)));
      const draining = srv.server.drain();
      expect((await c.closed).code).toBe(1001);
      expect(c.raw).toHaveLength(100);
      await draining;
    });
  });
});
