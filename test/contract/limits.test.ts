// Every configured limit, on every transport.
import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { Client, sleep, until } from '../helpers/client.js';
import { clientFrame, RawClient } from '../helpers/raw.js';
import { serverFixture, transports, type TestServer } from '../helpers/server.js';

describe.each(transports)('limits on the %s transport', (transport) => {
  const f = serverFixture(transport);
  const open = (query = '') => f.open(query);

  describe('--max-payload', () => {
    it('accepts a message of exactly the limit and closes a bigger one with 1009', async () => {
      await f.start({ maxPayload: 1024 });
      const c = await open();
      const pad = (n: number) => {
        const head = '{"op":"sub","topic":"a","id":1,"pad":"';
        return head + 'x'.repeat(n - head.length - 2) + '"}';
      };
      c.send(pad(1024));
      expect(await c.next()).toMatchObject({ op: 'ack', id: 1 });
      c.send(pad(1025));
      expect((await c.closed).code).toBe(1009);
    });

    it('closes with 1009 when fragments add up past the limit', async () => {
      await f.start({ maxPayload: 1024 });
      const raw = await RawClient.handshake(f.srv.port);
      raw.write(clientFrame(0x1, 'x'.repeat(600), { fin: false }));
      raw.write(clientFrame(0x0, 'x'.repeat(600), { fin: true }));
      expect((await raw.closeFrame()).code).toBe(1009);
      raw.destroy();
    });

    it('closes with 1009 on a header that announces too much, before the payload arrives', async () => {
      await f.start({ maxPayload: 1024 });
      const raw = await RawClient.handshake(f.srv.port);
      // 64-bit length of 2^20 with no payload sent
      raw.write(Buffer.from([0x81, 0xff, 0, 0, 0, 0, 0, 0x10, 0, 0, 1, 2, 3, 4]));
      expect((await raw.closeFrame()).code).toBe(1009);
      raw.destroy();
    });
  });

  describe('--max-outbound', () => {
    it('closes a subscriber that stops reading with 1013 and keeps delivering to the others', async () => {
      // a long --close-timeout: on a busy machine the reader may take seconds to drain its
      // kernel buffers before it reaches the Close; the server must not abort it meanwhile
      await f.start({ maxOutbound: 1024 * 1024, closeTimeout: 60_000 });
      const slow = await open('?topics=big');
      const fast = await open('?topics=big');
      const pub = await open();
      const socket = (slow.ws as unknown as { _socket: Socket })._socket;
      socket.pause(); // the kernel buffers fill, then the server's outbound queue
      // random, so permessage-deflate (the client offers it) cannot shrink it to nothing
      const data = '"' + randomBytes(24 * 1024).toString('base64') + '"';
      // 50 batches of 16 x 32 KiB = 25 MiB in all: more than loopback socket buffers and the
      // limit hold for the stuck reader, while the fast one never falls a batch behind.
      let received = 0;
      fast.ws.on('message', () => {
        received++;
      });
      for (let batch = 1; batch <= 50; batch++) {
        for (let i = 0; i < 16; i++) pub.send(`{"op":"pub","topic":"big","data":${data}}`);
        await until(() => received === batch * 16, 10_000);
      }
      await until(() => slowClosedCount(f.srv) === 1, 10_000);
      socket.resume();
      expect((await slow.closed).code).toBe(1013);
    });
  });

  describe('--handshake-timeout', () => {
    it('drops a client that never finishes its upgrade request', async () => {
      await f.start({ handshakeTimeout: 300 });
      const socket = connect(f.srv.port, '127.0.0.1');
      socket.on('error', () => undefined); // the engine drops it with a reset
      socket.resume(); // consume the stream: a paused socket may never report the server's FIN
      await new Promise((r) => socket.once('connect', r));
      socket.write('GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n'); // never ends the head
      const t0 = Date.now();
      await new Promise((r) => socket.once('close', r));
      expect(Date.now() - t0).toBeLessThan(5000);
    });

    it('drops a client that connects and sends nothing', async () => {
      await f.start({ handshakeTimeout: 300 });
      const socket = connect(f.srv.port, '127.0.0.1');
      socket.on('error', () => undefined);
      socket.resume(); // consume the stream: a paused socket may never report the server's FIN
      await new Promise((r) => socket.once('connect', r));
      await new Promise((r) => socket.once('close', r));
    });

    it('does not drop a client that upgraded in time', async () => {
      await f.start({ handshakeTimeout: 200 });
      const c = await open();
      await sleep(500);
      expect(await c.request({ op: 'sub', topic: 'a', id: 1 })).toMatchObject({ op: 'ack' });
    });
  });

  describe('--ping-interval', () => {
    it('pings, and drops a connection that never answers', async () => {
      await f.start({ pingInterval: 150 });
      const raw = await RawClient.handshake(f.srv.port); // a raw client does not answer pings
      const ping = await raw.nextFrame(1000);
      expect(ping.opcode).toBe(0x9);
      await raw.waitEnd(2000);
      await until(() => f.srv.server.hub.connectionCount === 0);
    });

    it('keeps a connection that answers pings', async () => {
      await f.start({ pingInterval: 100 });
      const c = await open(); // ws answers pings with pongs automatically
      await sleep(600);
      expect(await c.request({ op: 'sub', topic: 'alive', id: 1 })).toMatchObject({ op: 'ack' });
    });
  });

  describe('--max-connections', () => {
    it('answers the upgrade past the limit with 503 and accepts again after a close', async () => {
      await f.start({ maxConnections: 2 });
      const a = await open();
      await open();
      await expect(Client.open(f.srv.url)).rejects.toThrow('HTTP 503');
      a.close();
      await until(() => f.srv.server.transport.connectionCount() === 1);
      await open();
    });
  });

  describe('--max-topics-per-connection', () => {
    it('answers the sub past the limit with too_many_topics', async () => {
      await f.start({ maxTopicsPerConnection: 2 });
      const c = await open();
      await c.request({ op: 'sub', topic: 'a', id: 1 });
      await c.request({ op: 'sub', topic: 'b', id: 2 });
      expect(await c.request({ op: 'sub', topic: 'a', id: 3 })).toMatchObject({ op: 'ack' }); // re-sub is not a new topic
      expect(await c.request({ op: 'sub', topic: 'c', id: 4 })).toMatchObject({ op: 'err', code: 'too_many_topics', id: 4 });
      await c.request({ op: 'unsub', topic: 'a', id: 5 });
      expect(await c.request({ op: 'sub', topic: 'c', id: 6 })).toMatchObject({ op: 'ack' });
    });

    it('refuses ?topics= naming more topics than the limit with 400', async () => {
      await f.start({ maxTopicsPerConnection: 2 });
      await expect(Client.open(f.srv.url + '?topics=a,b,c')).rejects.toThrow('HTTP 400');
    });
  });
});

function slowClosedCount(srv: TestServer): number {
  return (srv.server.metrics.slowConsumerCloses as unknown as { hashMap: Record<string, { value: number }> }).hashMap['']?.value ?? 0;
}
