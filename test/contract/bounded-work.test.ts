// Bounded work per request, on every transport: a history ack or a sub replay carries at most a
// quarter of --max-outbound (and 1000 messages); `limit` and "more":true page through the rest; a
// connection being closed has its further requests ignored; a flood of history requests in one
// write does not hold the event loop.
import { randomBytes } from 'node:crypto';
import { constants, deflateRawSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { Client, type Msg } from '../helpers/client.js';
import { clientFrame, RawClient } from '../helpers/raw.js';
import { serverFixture, transports } from '../helpers/server.js';
import { watchLoop } from '../helpers/loop.js';

/** Longest gap between 5 ms ticks while `work` runs: how long the event loop was held. */
/** The CPU time within the longest event-loop gap while `work` runs (helpers/loop.ts). */
async function heldWhile(work: () => Promise<void>): Promise<number> {
  const watch = watchLoop();
  await work().finally(() => watch.stop());
  return watch.stop().cpuMs;
}

const fill = (c: Client, topic: string, n: number, size: number) => {
  const pad = 'p'.repeat(size);
  for (let i = 1; i <= n; i++) c.send({ op: 'pub', topic, data: { i, pad }, echo: false });
};

describe.each(transports)('bounded work on the %s transport', (transport) => {
  const f = serverFixture(transport);

  it('pages a history reply with limit and "more":true', async () => {
    await f.start();
    const c = await f.open();
    fill(c, 't', 10, 10);
    expect(await c.request({ op: 'pub', topic: 't', data: 'last', id: 0 })).toMatchObject({ seq: 11 });
    const seqs: number[] = [];
    let since = 0;
    for (;;) {
      const ack = await c.request({ op: 'history', topic: 't', since, limit: 4, id: 1 });
      const page = ack.messages as { seq: number }[];
      expect(page.length).toBeLessThanOrEqual(4);
      seqs.push(...page.map((m) => m.seq));
      if (ack.more !== true) break;
      since = page[page.length - 1]!.seq;
    }
    expect(seqs).toEqual(Array.from({ length: 11 }, (_, i) => i + 1));
    expect(await c.request({ op: 'history', topic: 't', limit: 0, id: 2 })).toMatchObject({ op: 'err', code: 'bad_request' });
  });

  it('cuts a history reply to a quarter of --max-outbound and pages the rest', async () => {
    await f.start({ maxOutbound: 64 * 1024, maxPayload: 16 * 1024 });
    const c = await f.open();
    fill(c, 't', 20, 5000);
    expect(await c.request({ op: 'pub', topic: 't', data: 'last', id: 0 })).toMatchObject({ seq: 21 });
    const first = c.request({ op: 'history', topic: 't', id: 1 });
    const ack = await first;
    expect(c.raw[c.raw.length - 1]!.length).toBeLessThanOrEqual(16 * 1024 + 200);
    expect(ack.more).toBe(true);
    const seqs = (ack.messages as { seq: number }[]).map((m) => m.seq);
    expect(seqs[0]).toBe(1);
    expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i + 1));
  });

  it('replays only the newest messages that fit on sub with since, says recovered:false, and goes live without a gap', async () => {
    await f.start({ maxOutbound: 64 * 1024, maxPayload: 16 * 1024 });
    const publisher = await f.open();
    fill(publisher, 't', 20, 5000);
    expect(await publisher.request({ op: 'pub', topic: 't', data: 'last', id: 0 })).toMatchObject({ seq: 21 });
    const c = await f.open();
    expect(await c.request({ op: 'sub', topic: 't', since: 0, id: 1 })).toMatchObject({ op: 'ack', seq: 21, recovered: false });
    publisher.send({ op: 'pub', topic: 't', data: 'live' });
    const got: Msg[] = [];
    for (;;) {
      const m = await c.next();
      got.push(m);
      if (m.data === 'live') break;
    }
    const seqs = got.map((m) => m.seq as number);
    expect(seqs.length).toBeLessThan(22);
    expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => 23 - seqs.length + i));
  });

  it('does not hold the event loop for 30 history requests of 100 MiB in one write, and stops at the close', async () => {
    await f.start({ history: 100 });
    const hub = f.srv.server.hub;
    const mib = Buffer.from(`"${'m'.repeat(1024 * 1024 - 16)}"`);
    for (let i = 0; i < 100; i++) hub.publish('big', mib);
    const raw = await RawClient.handshake(f.srv.port);
    const requests = Buffer.concat(Array.from({ length: 30 }, (_, i) => clientFrame(0x1, `{"op":"history","topic":"big","id":${i}}`)));
    expect(requests.length).toBeLessThan(64 * 1024);
    let acks = 0;
    const held = await heldWhile(async () => {
      raw.write(requests);
      // the client does not read: the acks pile up past --max-outbound and the server closes it
      raw.socket.pause();
      await new Promise((r) => setTimeout(r, 500));
      raw.socket.resume();
      for (;;) {
        const frame = await raw.nextFrame(5000).catch(() => undefined);
        if (frame === undefined || frame.opcode === 0x8) break;
        acks++;
      }
    });
    console.log(`[bounded-work ${transport}] event loop held at most ${held.toFixed(0)} ms of CPU; ${acks} acks before the close`);
    expect(acks).toBeLessThan(30);
    expect(held).toBeLessThan(1000);
    raw.destroy();
  });

  it('handles 60 compressed publishes of 1 MB in one 62 KB write in order, without holding the event loop', async () => {
    await f.start();
    const sub = await f.open('?topics=bomb');
    const raw = await RawClient.handshake(f.srv.port, '/ws', 'Sec-WebSocket-Extensions: permessage-deflate\r\n');
    const frames: Buffer[] = [];
    for (let i = 0; i < 60; i++) {
      const body = deflateRawSync(JSON.stringify({ op: 'pub', topic: 'bomb', data: `${i}:${'x'.repeat(1_000_000)}`, id: i }), {
        finishFlush: constants.Z_SYNC_FLUSH,
      });
      frames.push(clientFrame(0x1, body.subarray(0, body.length - 4), { rsv: 4 })); // RFC 7692 7.2.1
    }
    const write = Buffer.concat(frames);
    expect(write.length).toBeLessThan(64 * 1024);
    const ids: unknown[] = [];
    const held = await heldWhile(async () => {
      raw.write(write);
      while (ids.length < 60) ids.push((await raw.nextJson(10_000)).id);
    });
    console.log(
      `[bounded-work ${transport}] 60 MB inflated from one ${write.length} B write; event loop held at most ${held.toFixed(0)} ms of CPU`,
    );
    expect(ids).toEqual(Array.from({ length: 60 }, (_, i) => i));
    for (let i = 0; i < 60; i++) expect(String((await sub.next(5000)).data).startsWith(`${i}:`)).toBe(true);
    expect(held).toBeLessThan(1000);
    raw.destroy();
  });

  it.runIf(transport === 'uring')('closes with 1013 a client whose compressed messages outrun their inflation', async () => {
    await f.start({ maxPayload: 64 * 1024 });
    const raw = await RawClient.handshake(f.srv.port, '/ws', 'Sec-WebSocket-Extensions: permessage-deflate\r\n');
    // incompressible 48 KiB messages: past 4 MiB inflated in a turn the rest wait, and more than
    // 4 x --max-payload of compressed bytes waiting closes the connection
    const frames: Buffer[] = [];
    for (let i = 0; i < 200; i++) {
      const body = deflateRawSync(JSON.stringify({ op: 'pub', topic: 'fast', data: randomBytes(36 * 1024).toString('base64') }), {
        finishFlush: constants.Z_SYNC_FLUSH,
      });
      frames.push(clientFrame(0x1, body.subarray(0, body.length - 4), { rsv: 4 }));
    }
    raw.write(Buffer.concat(frames));
    expect((await raw.closeFrame(10_000)).code).toBe(1013);
    await raw.waitEnd(6000);
  });
});
