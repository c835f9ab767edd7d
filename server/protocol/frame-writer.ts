// Server-to-client WebSocket data frames (RFC 6455 section 5.2): FIN set, never masked
// (section 5.1: a server MUST NOT mask), header and payload in ONE buffer so the same
// bytes can be written to every subscriber's socket or handed to the native engine. The one
// place data frames are encoded (the engine writes only its own pong, ping and Close).

export const OPCODE_TEXT = 0x1;

/** Header length for a payload of `len` bytes: 7-bit, 16-bit or 64-bit length form. */
export function headerLength(len: number): number {
  return len < 126 ? 2 : len < 65536 ? 4 : 10;
}

/** Writes a FIN frame header at offset 0 of `buf`; returns the payload offset. */
export function writeHeader(buf: Buffer, opcode: number, len: number): number {
  buf[0] = 0x80 | opcode;
  if (len < 126) {
    buf[1] = len;
    return 2;
  }
  if (len < 65536) {
    buf[1] = 126;
    buf.writeUInt16BE(len, 2);
    return 4;
  }
  buf[1] = 127;
  buf.writeUInt32BE(Math.floor(len / 2 ** 32), 2);
  buf.writeUInt32BE(len >>> 0, 6);
  return 10;
}

/**
 * Allocates a text frame whose payload is `parts` concatenated: strings are written as
 * latin1 (callers pass ASCII-only JSON punctuation, numbers and escaped topics), byte arrays
 * are copied. Frames may be retained in history, so they get memory of their own rather
 * than a slice of Node's shared pool (a retained slice would pin the whole 8 KiB pool).
 */
/** Where a frame's memory comes from: its own by default (it may be retained in history). */
export type FrameAlloc = (size: number) => Buffer;

export function textFrame(
  parts: ReadonlyArray<string | Uint8Array>,
  alloc: FrameAlloc = Buffer.allocUnsafeSlow,
): { frame: Buffer; payloadOffset: number } {
  let len = 0;
  for (const p of parts) len += p.length;
  const frame = alloc(headerLength(len) + len);
  const payloadOffset = writeHeader(frame, OPCODE_TEXT, len);
  let off = payloadOffset;
  for (const p of parts) {
    if (typeof p === 'string') off += frame.write(p, off, 'latin1');
    else {
      frame.set(p, off);
      off += p.length;
    }
  }
  return { frame, payloadOffset };
}
