// What permessage-deflate put on the wire, on /metrics: ringcast_bytes_out_compressed_total counts
// the compressed msg frames queued to subscribers that negotiated it (frame size x receivers),
// ringcast_bytes_out_compressed_source_total the uncompressed bytes those same deliveries stood
// for (their share of ringcast_bytes_out_total). Checked against the frames the clients read, on
// both transports, in one process and with --workers 2 (the main thread adds the workers' up).
import { afterEach, describe, expect, it } from 'vitest';
import { startCli } from '../helpers/cli.js';
import { clientFrame, RawClient, type Frame } from '../helpers/raw.js';
import { startServer, transports, type TestServer } from '../helpers/server.js';

const OFFER = 'Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n';
const COMPRESSED = 'ringcast_bytes_out_compressed_total';
const SOURCE = 'ringcast_bytes_out_compressed_source_total';
const BYTES_OUT = 'ringcast_bytes_out_total';

/** Chat-like JSON of about `bytes` bytes: compresses well. */
function chat(bytes: number): string {
  const lines: { user: string; text: string; ts: number }[] = [];
  for (let i = 0; JSON.stringify(lines).length < bytes; i++)
    lines.push({ user: `user${i % 7}`, text: `message ${i} about the release, see you at the standup`, ts: 1764800000000 + i * 1000 });
  return JSON.stringify(lines);
}

/** The bytes a server frame took on the wire: its unmasked header (RFC 6455 5.2) and payload. */
const wireSize = (f: Frame) => {
  const n = f.payload.length;
  return (n < 126 ? 2 : n < 65536 ? 4 : 10) + n;
};

async function metrics(http: string): Promise<Map<string, number>> {
  const text = await (await fetch(`${http}/metrics`, { headers: { connection: 'close' } })).text();
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const [name, value] = line.split(' ');
    if (!name!.includes('{')) out.set(name!, Number(value));
  }
  return out;
}

/**
 * Polls /metrics until `want` holds: the engine's stats are read at most every 100 ms, and the
 * workers' registries reach the main thread when it asks.
 */
async function metricsUntil(http: string, want: (m: Map<string, number>) => boolean, ms = 15_000): Promise<Map<string, number>> {
  const deadline = Date.now() + ms;
  for (;;) {
    const m = await metrics(http);
    if (want(m) || Date.now() > deadline) return m;
    await new Promise((res) => setTimeout(res, 100));
  }
}

describe.each(transports)('bytes out compressed on the %s transport', (transport) => {
  const raws: RawClient[] = [];
  let srv: TestServer | undefined;
  afterEach(async () => {
    for (const r of raws.splice(0)) r.destroy();
    await srv?.close();
    srv = undefined;
  });

  const dataFrame = async (r: RawClient): Promise<Frame> => {
    for (;;) {
      const f = await r.nextFrame(10_000);
      if (f.opcode === 0x1) return f;
    }
  };
  /** A client subscribed to `room` once its ack came (with --workers: once its worker follows the topic). */
  const subscriber = async (port: number, headers: string): Promise<RawClient> => {
    const r = await RawClient.handshake(port, '/ws', headers);
    raws.push(r);
    r.write(clientFrame(0x1, '{"op":"sub","topic":"room","id":1}'));
    expect(JSON.parse((await dataFrame(r)).payload.toString())).toMatchObject({ op: 'ack', id: 1 });
    return r;
  };
  const publisher = async (port: number): Promise<RawClient> => {
    const r = await RawClient.handshake(port, '/ws', '');
    raws.push(r);
    return r;
  };

  it('counts the compressed frames deflate subscribers got, and what they stood for, not the plain ones', async () => {
    srv = await startServer(transport);
    const zipped = await subscriber(srv.port, OFFER);
    const plain = await subscriber(srv.port, '');
    const pub = await publisher(srv.port);
    const before = await metrics(srv.http);
    expect([before.get(COMPRESSED), before.get(SOURCE)]).toEqual([0, 0]);

    pub.write(clientFrame(0x1, `{"op":"pub","topic":"room","data":${chat(16 * 1024)}}`));
    const [fz, fp] = [await dataFrame(zipped), await dataFrame(plain)];
    expect(fz.rsv1).toBe(true);
    expect(fp.rsv1).toBe(false);
    // below --deflate-threshold: sent plain to both, so not counted as compressed
    pub.write(clientFrame(0x1, '{"op":"pub","topic":"room","data":"short"}'));
    const [sz, sp] = [await dataFrame(zipped), await dataFrame(plain)];
    expect(sz.rsv1).toBe(false);

    const want = new Map([
      [COMPRESSED, wireSize(fz)],
      [SOURCE, wireSize(fp)],
      [BYTES_OUT, 2 * wireSize(fp) + wireSize(sz) + wireSize(sp)],
    ]);
    const m = await metricsUntil(srv.http, (x) => [...want].every(([k, v]) => x.get(k) === v));
    expect(new Map([...want.keys()].map((k) => [k, m.get(k)]))).toEqual(want);
    expect(m.get(COMPRESSED)!).toBeLessThan(0.3 * m.get(SOURCE)!);
  });

  it('adds up every worker with --workers 2', async () => {
    const r = startCli(['--port', '0', '--workers', '2', '--transport', transport]);
    const port = (await r.listening).port as number;
    const http = `http://127.0.0.1:${port}`;
    // connections alternate between the workers: one deflate subscriber on each
    const a = await subscriber(port, OFFER);
    const b = await subscriber(port, OFFER);
    const plain = await subscriber(port, '');
    const pub = await publisher(port);

    pub.write(clientFrame(0x1, `{"op":"pub","topic":"room","data":${chat(16 * 1024)}}`));
    const [fa, fb, fp] = [await dataFrame(a), await dataFrame(b), await dataFrame(plain)];
    expect([fa.rsv1, fb.rsv1, fp.rsv1]).toEqual([true, true, false]);
    const want = new Map([
      [COMPRESSED, wireSize(fa) + wireSize(fb)],
      [SOURCE, 2 * wireSize(fp)],
      [BYTES_OUT, 3 * wireSize(fp)],
    ]);
    const m = await metricsUntil(http, (x) => [...want].every(([k, v]) => x.get(k) === v));
    expect(new Map([...want.keys()].map((k) => [k, m.get(k)]))).toEqual(want);
  });
});
