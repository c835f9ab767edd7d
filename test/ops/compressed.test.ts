// The ops stream's bytes out: what went compressed (permessage-deflate) beside the uncompressed
// rate, from the counters /metrics serves, on both transports.
import { afterEach, describe, expect, it } from 'vitest';
import { startCli } from '../helpers/cli.js';
import { clientFrame, RawClient, type Frame } from '../helpers/raw.js';
import { transports } from '../helpers/server.js';
import { bearer, EventStream, opsPort } from './helpers.js';

const KEY = 'ops-test-key-1';
const OFFER = 'Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n';

const raws: RawClient[] = [];
const streams: EventStream[] = [];
afterEach(() => {
  for (const r of raws.splice(0)) r.destroy();
  for (const s of streams.splice(0)) s.close();
});

/** The bytes a server frame took on the wire: its unmasked header (RFC 6455 5.2) and payload. */
const wireSize = (f: Frame) => {
  const n = f.payload.length;
  return (n < 126 ? 2 : n < 65536 ? 4 : 10) + n;
};

const dataFrame = async (r: RawClient): Promise<Frame> => {
  for (;;) {
    const f = await r.nextFrame(10_000);
    if (f.opcode === 0x1) return f;
  }
};

describe.each(transports)('the ops stream on the %s transport', (transport) => {
  it('carries the compressed share of bytes out and the size it went at', async () => {
    const r = startCli(['--port', '0', '--transport', transport, '--ops', '--ops-port', '0', '--api-key', KEY]);
    const port = (await r.listening).port as number;
    const s = new EventStream(await opsPort(r), bearer(KEY));
    streams.push(s);
    await s.ready;
    const subscriber = async (headers: string) => {
      const c = await RawClient.handshake(port, '/ws', headers);
      raws.push(c);
      c.write(clientFrame(0x1, '{"op":"sub","topic":"room","id":1}'));
      expect(JSON.parse((await dataFrame(c)).payload.toString())).toMatchObject({ op: 'ack', id: 1 });
      return c;
    };
    const zipped = await subscriber(OFFER);
    const plain = await subscriber('');
    const pub = await RawClient.handshake(port, '/ws', '');
    raws.push(pub);
    const words = Array.from({ length: 3000 }, (_, i) => `"word${i % 50}"`).join(',');
    pub.write(clientFrame(0x1, `{"op":"pub","topic":"room","data":[${words}]}`));
    const [fz, fp] = [await dataFrame(zipped), await dataFrame(plain)];
    expect([fz.rsv1, fp.rsv1]).toEqual([true, false]);

    // one publish: the second it fell in has every rate, each over the same interval
    const { point } = await s.until((e) => e.point.compressed.source > 0);
    expect(point.compressed.source / point.bytesOut).toBe(0.5); // one of the two subscribers
    expect(point.compressed.wire / point.compressed.source).toBeCloseTo(wireSize(fz) / wireSize(fp), 9);
    expect(point.compressed.wire).toBeLessThan(0.3 * point.compressed.source);
  });
});
