// Server -> client messages of protocol v1, encoded straight into WebSocket frames.
// A `msg` is encoded ONCE per publish; its frame is what every subscriber receives and
// what history keeps, so replays are byte-identical to live deliveries.
import { compressFrame, type DeflateOptions } from './deflate.js';
import { textFrame, type FrameAlloc } from './frame-writer.js';
import type { ErrorCode } from './errors.js';
import type { Id } from './request.js';

/** JSON string literal of an ASCII-only value (topics, epochs, codes): 7-bit safe. */
export function jsonAscii(s: string): string {
  return JSON.stringify(s);
}

export interface EncodedMsg {
  frame: Buffer;
  /** the same message with permessage-deflate (RSV1), for connections that negotiated it */
  compressed?: Buffer | undefined;
  /** where the verbatim `data` bytes sit inside `frame`, for history acks */
  dataStart: number;
  dataEnd: number;
}

/**
 * With `deflate`, the compressed twin is made too (once, whatever the number of subscribers).
 * `alloc` places both (the main thread of --workers puts them in shared memory for every worker).
 */
export function encodeMsg(topicJson: string, seq: number, data: Uint8Array, deflate?: DeflateOptions, alloc?: FrameAlloc): EncodedMsg {
  const prefix = `{"op":"msg","topic":${topicJson},"seq":${seq},"data":`;
  const { frame, payloadOffset } = textFrame([prefix, data, '}'], alloc);
  const dataStart = payloadOffset + prefix.length;
  const compressed = deflate === undefined ? undefined : compressFrame(frame, payloadOffset, deflate, alloc);
  return { frame, compressed, dataStart, dataEnd: dataStart + data.length };
}

/** {"op":"ack","id":ID,...fields}; `fields` is pre-encoded JSON member text (may be empty). */
export function encodeAck(id: string, fields: string): Buffer {
  return textFrame([`{"op":"ack","id":${id}${fields ? ',' + fields : ''}}`]).frame;
}

/** An ack whose tail includes raw byte parts (history acks carry verbatim data). */
export function encodeAckParts(id: string, parts: ReadonlyArray<string | Uint8Array>): Buffer {
  return textFrame([`{"op":"ack","id":${id},`, ...parts, '}']).frame;
}

export function encodeErr(id: Id, code: ErrorCode, msg: string): Buffer {
  const idPart = id === undefined ? '' : `"id":${id},`;
  // msg may hold user text (an unknown op name): JSON.stringify escapes it, then \u-escape
  // anything outside ASCII so the latin1 write in textFrame stays exact.
  const safe = JSON.stringify(msg).replace(/[\u007f-\uffff]/g, (c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0'));
  return textFrame([`{"op":"err",${idPart}"code":"${code}","msg":${safe}}`]).frame;
}

/** {"op":"join"|"leave","topic":T,"client":C,"user":U}; the user id may be any text (UTF-8). */
export function encodePresenceEvent(op: 'join' | 'leave', topicJson: string, client: string, user: string): Buffer {
  return textFrame([
    `{"op":"${op}","topic":${topicJson},"client":${jsonAscii(client)},"user":`,
    Buffer.from(JSON.stringify(user), 'utf8'),
    '}',
  ]).frame;
}

/** {"op":"presence_sync","topic":T,"count":K,"dropped":N}: N events were not sent; read the list again. */
export function encodePresenceSync(topicJson: string, count: number, dropped: number): Buffer {
  return textFrame([`{"op":"presence_sync","topic":${topicJson},"count":${count},"dropped":${dropped}}`]).frame;
}

/** {"op":"resync","topic":T,"epoch":E,"seq":S}: the broker lost what came before; delivery goes on after S of epoch E. */
export function encodeResync(topicJson: string, epoch: string, seq: number): Buffer {
  return textFrame([`{"op":"resync","topic":${topicJson},"epoch":${jsonAscii(epoch)},"seq":${seq}}`]).frame;
}
