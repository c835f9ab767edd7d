// A raw TCP WebSocket client for byte-level RFC 6455 tests: it writes exactly the bytes a
// test gives (written as hex in the tests) and parses what the server sends back.
import { createHash, randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';

export interface Frame {
  fin: boolean;
  /** RSV1: permessage-deflate compressed (RFC 7692) */
  rsv1: boolean;
  opcode: number;
  payload: Buffer;
}

export const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

/** A masked client frame (RFC 6455 5.2/5.3); `mask` defaults to a fixed key for readable hex. */
export function clientFrame(
  opcode: number,
  payload: Buffer | string,
  opts: { fin?: boolean; rsv?: number; mask?: Buffer | null } = {},
): Buffer {
  const data = typeof payload === 'string' ? Buffer.from(payload) : payload;
  const fin = opts.fin ?? true;
  const mask = opts.mask === undefined ? Buffer.from([0x37, 0xfa, 0x21, 0x3d]) : opts.mask;
  const len = data.length;
  const head: number[] = [(fin ? 0x80 : 0) | ((opts.rsv ?? 0) << 4) | opcode];
  const maskBit = mask ? 0x80 : 0;
  if (len < 126) head.push(maskBit | len);
  else if (len < 65536) head.push(maskBit | 126, len >> 8, len & 0xff);
  else {
    head.push(maskBit | 127, 0, 0, 0, 0);
    head.push((len >>> 24) & 0xff, (len >>> 16) & 0xff, (len >>> 8) & 0xff, len & 0xff);
  }
  const body = Buffer.from(data);
  if (mask) for (let i = 0; i < body.length; i++) body[i]! ^= mask[i & 3]!;
  return Buffer.concat([Buffer.from(head), mask ?? Buffer.alloc(0), body]);
}

export class RawClient {
  private buf: Buffer = Buffer.alloc(0);
  readonly frames: Frame[] = [];
  private waiters: (() => void)[] = [];
  ended = false;
  /** the server's 101 response head */
  head = '';
  readonly endedPromise: Promise<void>;

  private constructor(readonly socket: Socket) {
    socket.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.parse();
      this.wake();
    });
    this.endedPromise = new Promise((resolve) =>
      socket.on('close', () => {
        this.ended = true;
        this.wake();
        resolve();
      }),
    );
    socket.on('error', () => undefined);
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** Opens a TCP connection and sends `request` (raw HTTP head); resolves with the client and the response head. */
  static async handshake(port: number, path = '/ws', extraHeaders = '', ms = 10_000): Promise<RawClient> {
    const key = randomBytes(16).toString('base64');
    const socket = connect(port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    socket.setNoDelay(true);
    socket.write(
      `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n${extraHeaders}\r\n`,
    );
    // generous: a CPU-starved machine (CI building the image beside) can be slow to answer
    const head = await readHead(socket, ms);
    if (!head.startsWith('HTTP/1.1 101')) throw new Error(`handshake failed: ${head.split('\r\n')[0]}`);
    const accept = createHash('sha1')
      .update(key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11')
      .digest('base64');
    if (
      !head.includes(`\r\nSec-WebSocket-Accept: ${accept}`) &&
      !head.toLowerCase().includes(`sec-websocket-accept: ${accept.toLowerCase()}`)
    ) {
      throw new Error('bad Sec-WebSocket-Accept');
    }
    const client = new RawClient(socket);
    client.head = head;
    const rest = (socket as Socket & { leftover?: Buffer }).leftover;
    if (rest && rest.length) {
      client.buf = rest;
      client.parse();
    }
    return client;
  }

  write(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  /** Writes the bytes one at a time, each in its own TCP segment where the kernel allows. */
  async writeSlowly(bytes: Buffer, chunk = 1): Promise<void> {
    for (let i = 0; i < bytes.length; i += chunk) {
      this.socket.write(bytes.subarray(i, i + chunk));
      await new Promise((r) => setTimeout(r, 1));
    }
  }

  private parse(): void {
    for (;;) {
      const b = this.buf;
      if (b.length < 2) return;
      let len = b[1]! & 0x7f;
      let off = 2;
      if (len === 126) {
        if (b.length < 4) return;
        len = b.readUInt16BE(2);
        off = 4;
      } else if (len === 127) {
        if (b.length < 10) return;
        len = Number(b.readBigUInt64BE(2));
        off = 10;
      }
      if (b[1]! & 0x80) throw new Error('server sent a masked frame');
      if (b.length < off + len) return;
      this.frames.push({
        fin: (b[0]! & 0x80) !== 0,
        rsv1: (b[0]! & 0x40) !== 0,
        opcode: b[0]! & 0x0f,
        payload: b.subarray(off, off + len),
      });
      this.buf = b.subarray(off + len);
    }
  }

  /** The next frame from the server, in order. */
  async nextFrame(ms = 2000): Promise<Frame> {
    const deadline = Date.now() + ms;
    while (this.frames.length === 0) {
      if (this.ended) throw new Error('connection closed');
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no frame within ${ms} ms`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    return this.frames.shift()!;
  }

  /** Reads frames until a close frame; returns its code (1005 when empty) and reason. */
  async closeFrame(ms = 2000): Promise<{ code: number; reason: string }> {
    for (;;) {
      const f = await this.nextFrame(ms);
      if (f.opcode === 0x8) {
        if (f.payload.length < 2) return { code: 1005, reason: '' };
        return { code: f.payload.readUInt16BE(0), reason: f.payload.subarray(2).toString() };
      }
    }
  }

  /** Next text message (data frames only; control frames are skipped). */
  async nextJson(ms = 2000): Promise<Record<string, unknown>> {
    for (;;) {
      const f = await this.nextFrame(ms);
      if (f.opcode === 0x1) return JSON.parse(f.payload.toString()) as Record<string, unknown>;
    }
  }

  async waitEnd(ms = 2000): Promise<void> {
    await Promise.race([this.endedPromise, new Promise((_, reject) => setTimeout(() => reject(new Error('socket not closed')), ms))]);
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** Reads an HTTP response head from a socket; bytes after it are kept on `socket.leftover`. */
export function readHead(socket: Socket, ms = 2000): Promise<string> {
  return new Promise((resolve, reject) => {
    let acc = Buffer.alloc(0);
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error('no response head'));
    }, ms);
    const onData = (d: Buffer) => {
      acc = Buffer.concat([acc, d]);
      const end = acc.indexOf('\r\n\r\n');
      if (end === -1) return;
      cleanup();
      (socket as Socket & { leftover?: Buffer }).leftover = acc.subarray(end + 4);
      resolve(acc.subarray(0, end + 4).toString('latin1'));
    };
    const onClose = () => {
      cleanup();
      resolve(acc.toString('latin1'));
    };
    const cleanup = () => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('close', onClose);
    };
    socket.on('data', onData);
    socket.on('close', onClose);
  });
}

/** Sends a raw HTTP request and returns the whole response text (until close or `ms`). */
export async function rawHttp(port: number, request: string | Buffer, ms = 2000): Promise<string> {
  const socket = connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  socket.write(request);
  return new Promise((resolve) => {
    let acc = '';
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(acc);
    }, ms);
    socket.on('data', (d: Buffer) => {
      acc += d.toString('latin1');
    });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(acc);
    });
    socket.on('error', () => undefined);
  });
}
