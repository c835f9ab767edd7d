// Abuse mixed with normal traffic, on every transport: garbage bytes, frames cut by a reset,
// clients that vanish mid-message, a publisher flooding; afterwards the server still serves,
// every connection is gone from the hub, and (uring) the engine's counters are back to zero.
import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import type { NativeStats } from '../../server/transport/native.js';
import { Client, sleep, until } from '../helpers/client.js';
import { clientFrame, RawClient } from '../helpers/raw.js';
import { serverFixture, transports } from '../helpers/server.js';

describe.each(transports)('robustness on the %s transport', (transport) => {
  const f = serverFixture(transport);

  it('survives garbage, resets mid-frame and mid-handshake, and abrupt closes while publishing', async () => {
    await f.start({ handshakeTimeout: 500 });
    const { port } = f.srv;
    const subscribers = await Promise.all(Array.from({ length: 20 }, () => f.open('?topics=storm')));
    const publisher = await f.open();
    let published = 0;
    const flood = setInterval(() => {
      for (let i = 0; i < 20; i++) publisher.send({ op: 'pub', topic: 'storm', data: { n: ++published, pad: 'p'.repeat(i * 50) } });
    }, 2);

    let seed = 7;
    const rnd = (n: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const abusers: Promise<void>[] = [];
    for (let i = 0; i < 60; i++) {
      abusers.push(
        (async () => {
          switch (rnd(5)) {
            case 0: {
              // garbage instead of HTTP
              const s = connect(port, '127.0.0.1').on('error', () => undefined);
              await new Promise((r) => s.once('connect', r));
              s.write(randomBytes(1 + rnd(3000)));
              await sleep(rnd(50));
              s.destroy();
              return;
            }
            case 1: {
              // half a handshake, then a reset
              const s = connect(port, '127.0.0.1').on('error', () => undefined);
              await new Promise((r) => s.once('connect', r));
              s.write('GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConn');
              await sleep(rnd(30));
              s.resetAndDestroy();
              return;
            }
            case 2: {
              // half a frame, then a reset
              const raw = await RawClient.handshake(port, '/ws?topics=storm');
              const frame = clientFrame(0x1, '{"op":"pub","topic":"storm","data":"' + 'x'.repeat(rnd(5000)) + '"}');
              raw.write(frame.subarray(0, 1 + rnd(frame.length - 1)));
              await sleep(rnd(30));
              raw.socket.resetAndDestroy();
              return;
            }
            case 3: {
              // masked garbage frames after a valid upgrade: the server fails the connection
              const raw = await RawClient.handshake(port);
              raw.write(Buffer.concat([Buffer.from([0x80 | rnd(16), 0x80 | rnd(126)]), randomBytes(4 + rnd(200))]));
              await sleep(rnd(50));
              raw.destroy();
              return;
            }
            default: {
              // a subscriber that vanishes without a close frame
              const c = await Client.open(f.srv.url + '?topics=storm');
              await sleep(rnd(60));
              c.ws.terminate();
            }
          }
        })(),
      );
    }
    await Promise.all(abusers);
    clearInterval(flood);

    // the well-behaved subscribers saw every message in order
    const last = await publisher.request({ op: 'pub', topic: 'storm', data: 'end', id: 'end' });
    const total = published + 1;
    expect(last).toMatchObject({ op: 'ack', id: 'end', seq: total });
    for (const s of subscribers) {
      await until(() => s.raw.length >= total, 10_000);
      const seqs = s.raw.map((t) => (JSON.parse(t) as { seq: number }).seq);
      expect(seqs).toEqual(Array.from({ length: total }, (_, i) => i + 1));
    }

    // the server still serves, and nothing is left of the abusers
    for (const s of subscribers) s.close();
    publisher.close();
    expect((await fetch(`${f.srv.http}/healthz`)).status).toBe(200);
    const fresh = await f.open();
    expect(await fresh.request({ op: 'sub', topic: 'after', id: 1 })).toMatchObject({ op: 'ack' });
    fresh.close();
    await until(() => f.srv.server.hub.connectionCount === 0, 5000);
    if (transport === 'uring') {
      const native = (f.srv.server.transport as unknown as { native: { stats(): NativeStats } }).native;
      await until(() => {
        const st = native.stats();
        return st.sessions === 0 && st.liveSlots === 0 && st.liveFrames === 0 && st.bytesQueued === 0 && st.sendsInFlight === 0;
      }, 5000);
    }
  });
});
