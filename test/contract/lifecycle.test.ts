// The connection lifecycle against a client that tries, on every transport: every byte sent
// before a FIN is answered, request bodies stay whole, replies keep their place before the
// server's Close, a failing connection is closed (not reset), and (uring) idle connections are
// small again after a large message. Reproductions of bugs an independent review found.
import { connect, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { configWith } from '../../server/config.js';
import { loadAddon, nativeOptions, type NativeStats } from '../../server/transport/native.js';
import { Client, sleep, until } from '../helpers/client.js';
import { clientFrame, RawClient } from '../helpers/raw.js';
import { serverFixture, transports } from '../helpers/server.js';

const GET = 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n';

/** Writes `bytes` in one write, waits `pauseMs`, half-closes; resolves with all it read and how it ended. */
async function sendThenFin(port: number, bytes: Buffer | string, pauseMs = 0): Promise<{ text: string; error?: string }> {
  const s: Socket = connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => s.once('connect', resolve).once('error', reject));
  const chunks: Buffer[] = [];
  let error: string | undefined;
  s.on('data', (d: Buffer) => chunks.push(d));
  s.on('error', (e: NodeJS.ErrnoException) => {
    error = e.code;
  });
  const ended = new Promise<void>((resolve) => s.on('close', () => resolve()));
  s.write(bytes);
  if (pauseMs) await sleep(pauseMs);
  s.end();
  await Promise.race([ended, sleep(3000)]);
  s.destroy();
  return { text: Buffer.concat(chunks).toString('latin1'), error };
}

const count = (text: string, what: string) => text.split(what).length - 1;

function publishRequest(body: string): Buffer {
  return Buffer.from(
    `POST /publish HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}

describe.each(transports)('connection lifecycle on the %s transport', (transport) => {
  const f = serverFixture(transport);

  it('answers both of two pipelined requests sent right before a FIN', async () => {
    await f.start();
    const big = publishRequest(JSON.stringify({ topic: 'fin', data: 'x'.repeat(100_000) }));
    let answered = 0;
    for (let i = 0; i < 50; i++) {
      const first = i % 5 === 0 ? big : Buffer.from(GET);
      const { text } = await sendThenFin(f.srv.port, Buffer.concat([first, Buffer.from(GET)]), i % 3);
      answered += Number(count(text, 'HTTP/1.1 200') === 2);
    }
    expect(answered).toBe(50);
    expect((await fetch(f.srv.http + '/healthz')).status).toBe(200); // still up
  });

  it('keeps a POST body whole when more bytes follow it in the same write', async () => {
    await f.start();
    const sub = await f.open('?topics=whole');
    const data = 'é'.repeat(50_000); // ~100 kB of UTF-8: a body read from freed memory is not
    const next = publishRequest(JSON.stringify({ topic: 'whole', data: 'n'.repeat(40_000) }));
    for (let i = 0; i < 20; i++) {
      const { text } = await sendThenFin(f.srv.port, Buffer.concat([publishRequest(JSON.stringify({ topic: 'whole', data })), next]));
      expect(count(text, 'HTTP/1.1 200')).toBe(2);
      expect((await sub.next()).data).toBe(data);
      expect((await sub.next()).data).toBe('n'.repeat(40_000));
    }
  });

  it('answers a request whose client half-closed right after it', async () => {
    await f.start();
    let answered = 0;
    for (let i = 0; i < 20; i++) answered += Number((await sendThenFin(f.srv.port, GET)).text.startsWith('HTTP/1.1 200'));
    expect(answered).toBe(20);
  });

  it('publishes a message sent with a Close and a FIN in one write, and echoes the Close', async () => {
    await f.start();
    for (let i = 0; i < 20; i++) {
      const sub = await f.open('?topics=last');
      const raw = await RawClient.handshake(f.srv.port);
      const close = Buffer.from([0x03, 0xe8]); // 1000
      raw.write(Buffer.concat([clientFrame(0x1, JSON.stringify({ op: 'pub', topic: 'last', data: i, id: 7 })), clientFrame(0x8, close)]));
      raw.socket.end();
      expect(await sub.next()).toMatchObject({ op: 'msg', topic: 'last', data: i });
      expect(await raw.nextJson()).toMatchObject({ op: 'ack', id: 7 });
      expect((await raw.closeFrame()).code).toBe(1000);
      await raw.waitEnd();
      sub.close();
    }
  });

  const failing: [string, Buffer][] = [
    ['a reserved bit', clientFrame(0x1, 'x', { rsv: 4 })],
    ['a reserved opcode', clientFrame(0x3, 'x')],
    ['a bad close code', clientFrame(0x8, Buffer.from([0x03, 0xe7]))],
    ['a stray continuation', clientFrame(0x0, 'x')],
    ['a fragmented ping', clientFrame(0x9, 'x', { fin: false })],
    ['an unmasked frame', clientFrame(0x1, 'x', { mask: null })],
  ];
  it.each(failing)('sends the replies to earlier messages before its Close, for %s', async (_name, bad) => {
    await f.start();
    const raw = await RawClient.handshake(f.srv.port);
    raw.write(
      Buffer.concat([
        clientFrame(0x1, JSON.stringify({ op: 'sub', topic: 'a', id: 1 })),
        clientFrame(0x1, JSON.stringify({ op: 'presence', topic: 'a', id: 2 })),
        bad,
      ]),
    );
    expect(await raw.nextJson()).toMatchObject({ op: 'ack', id: 1 });
    expect(await raw.nextJson()).toMatchObject({ op: 'ack', id: 2 });
    expect((await raw.closeFrame()).code).toBe(1002);
    await raw.waitEnd(3000);
  });

  it('closes with a Close and a FIN, not a reset, when a failing frame arrives one byte per write', async () => {
    await f.start();
    const raw = await RawClient.handshake(f.srv.port);
    let error: string | undefined;
    raw.socket.on('error', (e: NodeJS.ErrnoException) => {
      error = e.code;
    });
    raw.write(clientFrame(0x1, JSON.stringify({ op: 'sub', topic: 'a', id: 1 })));
    expect(await raw.nextJson()).toMatchObject({ op: 'ack', id: 1 });
    await raw.writeSlowly(clientFrame(0x1, 'y'.repeat(200), { rsv: 2 }));
    expect((await raw.closeFrame(3000)).code).toBe(1002);
    await raw.waitEnd(3000);
    expect(error).toBeUndefined(); // no ECONNRESET
  });
});

describe.runIf(transports.includes('uring'))('the uring engine itself', () => {
  const f = serverFixture('uring');
  const stats = () => (f.srv.server.transport as unknown as { native: { stats(): NativeStats } }).native.stats();

  it('holds no message buffer for connections idle after a 1 MiB message', async () => {
    await f.start();
    const clients = await Promise.all(Array.from({ length: 20 }, () => f.open()));
    const before = stats().sessionBufferBytes;
    const big = JSON.stringify({ op: 'pub', topic: 'big', data: 'm'.repeat(1_000_000), id: 1 });
    for (const c of clients) expect(await c.request(JSON.parse(big) as Record<string, unknown>)).toMatchObject({ op: 'ack', id: 1 });
    await sleep(50);
    const after = stats().sessionBufferBytes;
    // each used to hold ~1-2 MiB of assembly capacity
    expect(after - before).toBeLessThan(20 * 4096);
  });

  it('reports an exception thrown while handling a batch to onError and goes on serving', async () => {
    const { addon } = loadAddon();
    const errors: Error[] = [];
    let batches = 0;
    const native = new addon!.RingServer(
      nativeOptions(configWith({ maxPayload: 1 << 20, maxOutbound: 1 << 20 })),
      () => {
        batches++;
        throw new Error(`thrown in batch ${batches}`);
      },
      (err: Error) => errors.push(err),
    );
    try {
      const port = native.listen('127.0.0.1', 0);
      for (let i = 0; i < 2; i++) {
        const s = connect(port, '127.0.0.1').on('error', () => undefined);
        s.write(GET);
        await until(() => errors.length > i, 3000);
        s.destroy();
      }
      expect(errors[0]!.message).toBe('thrown in batch 1');
      expect(errors.length).toBeGreaterThanOrEqual(2); // the next batches still came
      expect(native.stats().accepted).toBeGreaterThanOrEqual(2);
    } finally {
      native.destroy();
    }
  });

  it('throws a clear error for every method called after destroy()', () => {
    const { addon } = loadAddon();
    const native = new addon!.RingServer(nativeOptions(configWith({ maxPayload: 1024, maxOutbound: 1024 })), () => undefined);
    native.destroy();
    native.destroy(); // idempotent
    const calls: [string, () => unknown][] = [
      ['listen', () => native.listen('127.0.0.1', 0)],
      ['acceptUpgrade', () => native.acceptUpgrade(1)],
      ['respond', () => native.respond(1, Buffer.from('x'), false)],
      ['send', () => native.send(1, Buffer.from('x'))],
      ['fanout', () => native.fanout(new Uint32Array([1]), Buffer.from('x'), -1)],
      ['close', () => native.close(1, 1000, '')],
      ['abort', () => native.abort(1)],
      ['flush', () => native.flush()],
      ['runTimers', () => native.runTimers(1000, false)],
      ['stopAccepting', () => native.stopAccepting()],
      ['stats', () => native.stats()],
      ['ringInfo', () => native.ringInfo()],
      ['ringFd', () => native.ringFd()],
    ];
    for (const [name, call] of calls) expect(call, name).toThrow(`RingServer.${name}(): the server was destroyed`);
  });

  it('refuses options without every key with a TypeError naming the missing one', () => {
    const { addon } = loadAddon();
    const { recvBuffers: _, ...options } = nativeOptions(configWith({}));
    expect(() => new addon!.RingServer(options as never, () => undefined)).toThrow(/RingServer options: recvBuffers is missing/);
    expect(() => new addon!.RingServer({ ...options, recvBuffers: 'many' } as never, () => undefined)).toThrow(TypeError);
  });

  it('refuses arguments of the wrong kind with a TypeError instead of crashing', () => {
    const { addon } = loadAddon();
    const native = new addon!.RingServer(nativeOptions(configWith({ maxPayload: 1024, maxOutbound: 1024 })), () => undefined);
    try {
      const n = native as unknown as Record<string, (...a: unknown[]) => unknown>;
      expect(() => n.send!('x', 'y')).toThrow(TypeError);
      expect(() => n.fanout!([1, 2], Buffer.from('x'), -1)).toThrow(/Uint32Array/);
      expect(() => n.respond!(1)).toThrow(/Buffer/);
      expect(() => n.listen!(8080)).toThrow(/string/);
    } finally {
      native.destroy();
    }
  });

  it('survives server.close() while token checks are pending', async () => {
    const secret = 'lifecycle-secret-0123456789abcdef';
    await f.start({ jwtSecret: secret });
    const { SignJWT } = await import('jose');
    const token = await new SignJWT({ sub: 'u' })
      .setProtectedHeader({ alg: 'HS256' })
      .setExpirationTime('1h')
      .sign(new TextEncoder().encode(secret));
    const pending = Array.from({ length: 20 }, () => new Client(`${f.srv.url}?token=${token}`));
    for (const c of pending) c.opened.catch(() => undefined); // refused or cut: either is fine
    await sleep(1);
    await f.srv.server.close();
    await Promise.all(pending.map((c) => c.closed));
  });
});
