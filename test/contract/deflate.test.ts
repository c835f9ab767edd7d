// permessage-deflate (RFC 7692) on every transport: the negotiation table, compressed fanout
// (one compressed frame, byte-identical for every subscriber that negotiated), compressed
// input (whole, fragmented, mixed with plain), and what must fail: bombs, corrupt data, RSV1
// where it is not allowed. Frames are built by clientFrame() (rsv 4 = RSV1).
import { constants, deflateRawSync, inflateRawSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { DEFLATE_RESPONSE } from '../../server/protocol/deflate.js';
import { clientFrame, RawClient, type Frame } from '../helpers/raw.js';
import { startServer, transports, type TestServer } from '../helpers/server.js';
import type { Config } from '../../server/config.js';

const OFFER = 'Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n';

/** A client's compressed payload: deflated with a sync flush, the 00 00 ff ff tail removed. */
function deflate(text: string | Buffer): Buffer {
  const d = deflateRawSync(typeof text === 'string' ? Buffer.from(text) : text, { finishFlush: constants.Z_SYNC_FLUSH });
  return d.subarray(0, d.length - 4);
}

function inflate(payload: Buffer): string {
  return inflateRawSync(Buffer.concat([payload, Buffer.from([0, 0, 0xff, 0xff])]), { finishFlush: constants.Z_SYNC_FLUSH }).toString();
}

/** Chat-like JSON of about `bytes` bytes. */
function chat(bytes: number): string {
  const lines: { user: string; text: string; ts: number }[] = [];
  for (let i = 0; JSON.stringify(lines).length < bytes; i++)
    lines.push({ user: `user${i % 7}`, text: `message ${i} about the release, see you at the standup`, ts: 1764800000000 + i * 1000 });
  return JSON.stringify(lines);
}

function extensionsOf(head: string): string | undefined {
  const line = head.split('\r\n').find((l) => l.toLowerCase().startsWith('sec-websocket-extensions:'));
  return line?.slice(line.indexOf(':') + 1).trim();
}

describe.each(transports)('permessage-deflate on the %s transport', (transport) => {
  let srv: TestServer;
  const raws: RawClient[] = [];
  afterEach(async () => {
    for (const r of raws.splice(0)) r.destroy();
    await srv?.close();
  });
  const start = async (o: Partial<Config> = {}) => (srv = await startServer(transport, o));
  const connect = async (headers = OFFER, query = '') => {
    const r = await RawClient.handshake(srv.port, `/ws${query}`, headers);
    raws.push(r);
    return r;
  };
  const dataFrame = async (r: RawClient): Promise<Frame> => {
    for (;;) {
      const f = await r.nextFrame();
      if (f.opcode === 0x1 || f.opcode === 0x2) return f;
    }
  };
  const json = (f: Frame) => JSON.parse(f.rsv1 ? inflate(f.payload) : f.payload.toString()) as Record<string, unknown>;
  const expectClose = async (r: RawClient, code: number) => {
    expect((await r.closeFrame()).code).toBe(code);
    await r.waitEnd();
  };

  describe('negotiation (RFC 7692 section 7)', () => {
    it.each([
      ['Chromium: permessage-deflate; client_max_window_bits', 'permessage-deflate; client_max_window_bits', true],
      ['Firefox: permessage-deflate', 'permessage-deflate', true],
      ['both no_context_takeover offered', 'permessage-deflate; server_no_context_takeover; client_no_context_takeover', true],
      ['server_max_window_bits=15', 'permessage-deflate; server_max_window_bits=15', true],
      ['a quoted client_max_window_bits', 'permessage-deflate; client_max_window_bits="10"', true],
      ['an unsupported first offer, then a plain one', 'permessage-deflate; server_max_window_bits=10, permessage-deflate', true],
      ['another extension first', 'x-webkit-deflate-frame, permessage-deflate', true],
      ['another extension only', 'x-webkit-deflate-frame', false],
      ['server_max_window_bits below 15', 'permessage-deflate; server_max_window_bits=10', false],
      ['client_max_window_bits out of range', 'permessage-deflate; client_max_window_bits=16', false],
      ['an unknown parameter', 'permessage-deflate; foo', false],
      ['a repeated parameter', 'permessage-deflate; server_no_context_takeover; server_no_context_takeover', false],
      ['a value on server_no_context_takeover', 'permessage-deflate; server_no_context_takeover=1', false],
    ])('%s: accepted %s', async (_name, offer, accepted) => {
      await start();
      const r = await connect(`Sec-WebSocket-Extensions: ${offer}\r\n`);
      expect(extensionsOf(r.head)).toBe(accepted ? DEFLATE_RESPONSE : undefined);
    });

    it('answers no extension without an offer, and none with --permessage-deflate off', async () => {
      await start({ permessageDeflate: 'off' });
      expect(extensionsOf((await connect('')).head)).toBeUndefined();
      expect(extensionsOf((await connect()).head)).toBeUndefined();
    });
  });

  describe('outbound: compressed once per publish', () => {
    it('sends the same compressed bytes to every subscriber that negotiated, the plain frame to the others', async () => {
      await start();
      const a = await connect(OFFER, '?topics=room');
      const b = await connect(OFFER, '?topics=room');
      const plain = await connect('', '?topics=room');
      const pub = await connect('');
      const data = chat(16 * 1024);
      pub.write(clientFrame(0x1, `{"op":"pub","topic":"room","data":${data}}`));
      const [fa, fb, fp] = [await dataFrame(a), await dataFrame(b), await dataFrame(plain)];
      expect(fa.rsv1).toBe(true);
      expect(fa.payload.equals(fb.payload)).toBe(true);
      expect(fa.payload.length).toBeLessThan(0.3 * fp.payload.length);
      expect(fp.rsv1).toBe(false);
      expect(inflate(fa.payload)).toBe(fp.payload.toString());
      expect(json(fa)).toMatchObject({ op: 'msg', topic: 'room', seq: 1 });
    });

    it('sends messages below --deflate-threshold plain, and never compresses acks or control frames', async () => {
      await start({ deflateThreshold: 4096 });
      const a = await connect(OFFER, '?topics=room');
      a.write(clientFrame(0x1, `{"op":"pub","topic":"room","data":${chat(1000)},"id":1}`));
      const msg = await dataFrame(a);
      const ack = await dataFrame(a);
      expect(msg.rsv1).toBe(false);
      expect(ack.rsv1).toBe(false);
      a.write(clientFrame(0x9, 'hi'));
      const pong = await a.nextFrame();
      expect(pong).toMatchObject({ opcode: 0xa, rsv1: false });
    });

    it('replays a sub with since in the compressed form', async () => {
      await start();
      const pub = await connect('');
      for (let i = 0; i < 2; i++) pub.write(clientFrame(0x1, `{"op":"pub","topic":"room","data":${chat(4096)},"id":${i}}`));
      // the first connection that negotiated is needed before anything is compressed
      const a = await connect(OFFER);
      pub.write(clientFrame(0x1, `{"op":"pub","topic":"room","data":${chat(4096)},"id":9}`));
      for (let i = 0; i < 3; i++) await dataFrame(pub);
      a.write(clientFrame(0x1, '{"op":"sub","topic":"room","since":2,"id":1}'));
      expect(json(await dataFrame(a))).toMatchObject({ op: 'ack', id: 1 });
      const replay = await dataFrame(a);
      expect(replay.rsv1).toBe(true);
      expect(json(replay)).toMatchObject({ op: 'msg', seq: 3 });
    });
  });

  describe('inbound: compressed client messages', () => {
    const SUB = '{"op":"sub","topic":"a","id":1}';

    it('inflates a compressed message, a fragmented one and plain ones between them', async () => {
      await start();
      const r = await connect();
      const big = `{"op":"sub","topic":"a","id":2,"pad":"${'x'.repeat(20_000)}"}`;
      const z = deflate(big);
      const half = Math.floor(z.length / 2);
      r.write(
        Buffer.concat([
          clientFrame(0x1, deflate(SUB), { rsv: 4 }),
          clientFrame(0x1, '{"op":"sub","topic":"a","id":3}'),
          clientFrame(0x1, z.subarray(0, half), { rsv: 4, fin: false }),
          clientFrame(0x9, 'ping between fragments'),
          clientFrame(0x0, z.subarray(half)),
          clientFrame(0x1, deflate('{"op":"sub","topic":"a","id":4}'), { rsv: 4 }),
        ]),
      );
      const ids: unknown[] = [];
      while (ids.length < 4) ids.push(json(await dataFrame(r)).id);
      expect(ids).toEqual([1, 3, 2, 4]);
    });

    it('closes with 1009 when a 64 KiB frame inflates past --max-payload', async () => {
      await start({ maxPayload: 1024 * 1024 });
      const r = await connect();
      const bomb = deflate(Buffer.alloc(64 * 1024 * 1024, 0x20)); // 64 MiB of spaces
      expect(bomb.length).toBeLessThan(128 * 1024);
      r.write(clientFrame(0x1, bomb, { rsv: 4 }));
      await expectClose(r, 1009);
    });

    it('closes with 1007 on corrupt compressed data', async () => {
      await start();
      const r = await connect();
      r.write(clientFrame(0x1, Buffer.from('ff ff ff ff 00 12 34', 'hex'), { rsv: 4 }));
      await expectClose(r, 1007);
    });

    it('closes with 1007 when a compressed text message inflates to invalid UTF-8', async () => {
      await start();
      const r = await connect();
      r.write(clientFrame(0x1, deflate(Buffer.from([0x7b, 0xff, 0xfe, 0x7d])), { rsv: 4 }));
      await expectClose(r, 1007);
    });

    it('closes with 1002 on RSV1 from a client that did not negotiate', async () => {
      await start();
      const r = await connect('');
      r.write(clientFrame(0x1, deflate(SUB), { rsv: 4 }));
      await expectClose(r, 1002);
    });

    it('closes with 1002 on RSV1 on a continuation frame', async () => {
      await start();
      const r = await connect();
      r.write(Buffer.concat([clientFrame(0x1, '{"op":"sub",', { fin: false }), clientFrame(0x0, deflate('"topic":"a"}'), { rsv: 4 })]));
      await expectClose(r, 1002);
    });

    it('closes with 1002 on RSV1 on a control frame', async () => {
      await start();
      const r = await connect();
      r.write(clientFrame(0x9, deflate('hi'), { rsv: 4 }));
      await expectClose(r, 1002);
    });
  });

  it('serves the ws library with perMessageDeflate end to end', async () => {
    await start();
    const ws = new WebSocket(`${srv.url}?topics=room`, { perMessageDeflate: { threshold: 0 } });
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    expect(ws.extensions).toContain('permessage-deflate');
    const data = chat(16 * 1024);
    const got = new Promise<Record<string, unknown>>((resolve) =>
      ws.on('message', (m: Buffer) => {
        const j = JSON.parse(m.toString()) as Record<string, unknown>;
        if (j.op === 'msg') resolve(j);
      }),
    );
    ws.send(`{"op":"pub","topic":"room","data":${data}}`);
    expect((await got).data).toEqual(JSON.parse(data));
    ws.close();
  });
});
