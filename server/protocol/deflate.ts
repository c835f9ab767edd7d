// permessage-deflate (RFC 7692) for both transports: the negotiation, the compressed form of an
// outbound frame, and the bounded inflation of an inbound message. No zlib state outlives a call:
// the server answers every offer with server_no_context_takeover and client_no_context_takeover,
// so each message is a stream of its own — one compressed payload serves every connection that
// negotiated, and one inflation per message needs nothing from the connection's past.
import { isUtf8 } from 'node:buffer';
import { constants, deflateRawSync, inflateRawSync } from 'node:zlib';
import { closeCodes } from '../client/close-codes.js';
import { headerLength, writeHeader, type FrameAlloc } from './frame-writer.js';

export const EXTENSION = 'permessage-deflate';
/** The one answer the server gives to an offer it accepts (Sec-WebSocket-Extensions). */
export const DEFLATE_RESPONSE = 'permessage-deflate; server_no_context_takeover; client_no_context_takeover';

/** RSV1 on the first frame of a message: its payload is compressed (RFC 7692 section 6). */
export const RSV1 = 0x40;
/** The tail of a sync flush, removed by the sender and appended by the receiver (section 7.2.1). */
const TAIL = Buffer.from([0x00, 0x00, 0xff, 0xff]);

/**
 * True when the Sec-WebSocket-Extensions header offers permessage-deflate with parameters the
 * server can honour (section 7.1): the offers are tried in order, the first acceptable one wins.
 * Declined (false, never an upgrade failure): no offer, other extensions only, or every
 * permessage-deflate offer with an unknown, repeated or invalid parameter, or a
 * server_max_window_bits below 15 (one compressed payload serves every subscriber, so the
 * server compresses with one window size: zlib's largest).
 */
export function acceptsDeflate(header: string | undefined): boolean {
  if (header === undefined) return false;
  for (const offer of header.split(',')) {
    const [name, ...params] = offer.split(';').map((p) => p.trim());
    if (name?.toLowerCase() === EXTENSION && validOffer(params)) return true;
  }
  return false;
}

function validOffer(params: string[]): boolean {
  const seen = new Set<string>();
  for (const param of params) {
    const eq = param.indexOf('=');
    const key = (eq === -1 ? param : param.slice(0, eq)).trim().toLowerCase();
    let value = eq === -1 ? undefined : param.slice(eq + 1).trim();
    if (value !== undefined && value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
    if (seen.has(key)) return false; // section 7.1: a repeated parameter makes the offer invalid
    seen.add(key);
    switch (key) {
      case 'server_no_context_takeover':
      case 'client_no_context_takeover':
        if (value !== undefined) return false;
        break;
      case 'client_max_window_bits': // the client may use any window: the inflater takes 15
        if (value !== undefined && !windowBits(value)) return false;
        break;
      case 'server_max_window_bits':
        if (value === undefined || !windowBits(value) || Number(value) !== 15) return false;
        break;
      default:
        return false;
    }
  }
  return true;
}

function windowBits(v: string): boolean {
  return /^(8|9|1[0-5])$/.test(v);
}

export interface DeflateOptions {
  /** payloads of fewer bytes are not compressed */
  threshold: number;
  /** zlib level 1..9 */
  level: number;
}

/** The server's compression settings: undefined when --permessage-deflate is off. */
export function deflateOptions(config: {
  permessageDeflate: 'on' | 'off';
  deflateThreshold: number;
  deflateLevel: number;
}): DeflateOptions | undefined {
  return config.permessageDeflate === 'on' ? { threshold: config.deflateThreshold, level: config.deflateLevel } : undefined;
}

/**
 * The compressed twin of a complete unfragmented frame (as textFrame makes): the same opcode
 * with RSV1, its payload deflated with a sync flush and the trailing 00 00 ff ff removed
 * (section 7.2.1). Undefined when the payload is below the threshold or would not shrink.
 */
export function compressFrame(
  frame: Buffer,
  payloadOffset: number,
  opts: DeflateOptions,
  alloc: FrameAlloc = Buffer.allocUnsafeSlow,
): Buffer | undefined {
  const payloadLength = frame.length - payloadOffset;
  if (payloadLength < opts.threshold) return undefined;
  const deflated = deflateRawSync(frame.subarray(payloadOffset), { level: opts.level, finishFlush: constants.Z_SYNC_FLUSH });
  const len = endsWithTail(deflated) ? deflated.length - TAIL.length : deflated.length;
  if (headerLength(len) + len >= frame.length) return undefined;
  const out = alloc(headerLength(len) + len); // retained in history: memory of its own
  const at = writeHeader(out, frame[0]! & 0x0f, len);
  out[0]! |= RSV1;
  deflated.copy(out, at, 0, len);
  return out;
}

function endsWithTail(b: Buffer): boolean {
  const n = b.length;
  return n >= 4 && b[n - 4] === 0 && b[n - 3] === 0 && b[n - 2] === 0xff && b[n - 1] === 0xff;
}

export type Inflated = { ok: true; data: Buffer } | { ok: false; code: number; reason: string };

/**
 * Inflates one compressed message (section 7.2.2: the tail appended). Node's zlib stops as soon
 * as the output passes `maxPayload` (it checks after each 16 KiB chunk it produces), so a small
 * frame that would inflate to gigabytes costs at most --max-payload plus one chunk: 1009.
 * Corrupt data, or a text message that is not UTF-8 once inflated: 1007.
 */
export function inflateMessage(data: Buffer, isBinary: boolean, maxPayload: number): Inflated {
  let out: Buffer;
  try {
    out = inflateRawSync(Buffer.concat([data, TAIL]), { maxOutputLength: maxPayload, finishFlush: constants.Z_SYNC_FLUSH });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE')
      return { ok: false, code: closeCodes.messageTooBig.code, reason: closeCodes.messageTooBig.reason };
    return { ok: false, code: closeCodes.invalidPayload.code, reason: 'invalid compressed data' };
  }
  if (!isBinary && !isUtf8(out)) return { ok: false, code: closeCodes.invalidPayload.code, reason: 'text message is not UTF-8' };
  return { ok: true, data: out };
}
