// Loads the io_uring engine addon (native/build/Release/ringcast.node). Typed here once; the
// rest of the server sees only UringTransport.
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface NativeProbe {
  ok: boolean;
  line: string;
  reason: string;
  fix: string;
  step: string;
  errno: number;
  features: string;
}

export interface NativeRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  keepAlive: boolean;
  /** the peer's IP for an upgrade; empty for a plain request (nothing reads it there) */
  remoteAddress: string;
  body: Buffer;
}

export interface NativeStats {
  liveSlots: number;
  liveFrames: number;
  frameBytes: number;
  bytesQueued: number;
  buffersOut: number;
  sendsInFlight: number;
  accepted: number;
  closed: number;
  overflows: number;
  staleCqes: number;
  acceptBackoffs: number;
  recvRearms: number;
  sends: number;
  zcSends: number;
  enters: number;
  sqesSubmitted: number;
  cqesReaped: number;
  recvEnobufs: number;
  taskrunRounds: number;
  /** graceful closes aborted at --close-timeout (a peer that did not read or never sent its FIN) */
  closeTimeouts: number;
  /** accepts re-armed at a later turn because no SQE could be had */
  acceptRearms: number;
  sessions: number;
  /** capacity of every session's input and message-assembly buffers */
  sessionBufferBytes: number;
  features: string;
  sizing: string;
}

export interface NativeOptions {
  maxPayload: number;
  maxOutbound: number;
  maxConnections?: number;
  maxHeadBytes?: number;
  maxHeaders?: number;
  /** ms from a graceful close to its abort (the engine's close_timeout_ms) */
  closeTimeout?: number;
}

/** Bits of `a` in a Message event (ring_server.cc kMessageBinary, kMessageCompressed). */
export const MESSAGE_BINARY = 1;
export const MESSAGE_COMPRESSED = 2;

/** Batch layout shared with native/binding/ring_server.cc: [kind, conn, a, b] per event. */
export const BATCH_STRIDE = 4;
export const enum BatchKind {
  Request = 1,
  Message = 2,
  Closed = 3,
  Drain = 4,
  Overflow = 5,
  Refused = 6,
}

export interface NativeRingServer {
  listen(host: string, port: number): number;
  /** `extensions`: the Sec-WebSocket-Extensions answer when permessage-deflate was negotiated */
  acceptUpgrade(conn: number, extensions?: string): number;
  /** An answer to a request; with keepAlive false also the refusal of a pending upgrade. */
  respond(conn: number, bytes: Buffer, keepAlive: boolean): number;
  send(conn: number, frame: Buffer): number;
  /** with `compressed`, connections accepted with permessage-deflate get that frame instead */
  fanout(ids: Uint32Array, frame: Buffer, exclude: number, compressed?: Buffer): number;
  close(conn: number, code: number, reason: string): number;
  abort(conn: number): number;
  flush(): number;
  sweep(handshakeTimeoutMs: number, ping: boolean): number;
  stopAccepting(): void;
  stats(): NativeStats;
  destroy(): void;
}

export interface NativeAddon {
  probe(): NativeProbe;
  /**
   * `onEvents` gets each batch (cut where the server writes a frame of its own). What it throws
   * is handed to `onError` (without one: an uncaught exception); every method throws after
   * destroy(), and a TypeError for arguments of the wrong kind.
   */
  RingServer: new (options: NativeOptions, onEvents: (batch: unknown[]) => void, onError?: (err: Error) => void) => NativeRingServer;
}

// This file runs from server/transport/ (tests, via vitest) and from dist/server/transport/.
const ROOT = fileURLToPath(new URL(import.meta.url.includes('/dist/server/') ? '../../../' : '../../', import.meta.url));
/** RINGCAST_ADDON overrides the path, e.g. with the ASan build (native/tools/test-asan.sh). */
const ADDON_PATH = process.env.RINGCAST_ADDON || join(ROOT, 'native/build/Release/ringcast.node');
const UNAVAILABLE = join(ROOT, 'native/build/UNAVAILABLE');

let cached: { addon?: NativeAddon; reason?: string } | undefined;

/** The addon, or the reason it cannot be loaded (one line, with what would fix it). */
export function loadAddon(): { addon?: NativeAddon; reason?: string } {
  if (cached) return cached;
  if (!existsSync(ADDON_PATH)) {
    const why = existsSync(UNAVAILABLE) ? readFileSync(UNAVAILABLE, 'utf8').trim() : 'the addon was not built';
    cached = { reason: `io_uring engine not available: ${why}; fix: run npm ci on Linux with g++, make and python3` };
    return cached;
  }
  try {
    cached = { addon: createRequire(import.meta.url)(ADDON_PATH) as NativeAddon };
  } catch (err) {
    cached = { reason: `io_uring engine failed to load: ${(err as Error).message}; fix: rebuild with npm rebuild` };
  }
  return cached;
}
