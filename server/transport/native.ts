// Loads the io_uring engine addon (native/build/Release/ringcast.node). Typed here once; the
// rest of the server sees only UringTransport.
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Config } from '../config.js';

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

/**
 * stats(): one number per row of RingServer.statsTable, the list declared once in C++
 * (native/src/engine/stats.h, native/src/session/stats.h); server/metrics.ts registers the rows.
 */
export type NativeStats = Readonly<Record<string, number>>;

export interface NativeStatRow {
  /** the key in stats() */
  key: string;
  kind: 'counter' | 'gauge';
  /** the Prometheus name */
  metric: string;
  help: string;
}

/**
 * new RingServer(options): every key required (the binding's kOptions; a TypeError names a
 * missing one). Each is a config key of the same name, so the values come from
 * config/defaults.ts; the C++ defaults are for native tests only. closeTimeout is the engine's
 * close_timeout_ms; ringSlots its connection slots (not maxConnections, which counts WebSockets).
 */
export const NATIVE_OPTION_KEYS = [
  'maxPayload',
  'maxOutbound',
  'maxHeadBytes',
  'maxHeaders',
  'closeTimeout',
  'ringSlots',
  'sqEntries',
  'cqEntries',
  'recvBuffers',
  'recvBufferSize',
  'zeroCopyThreshold',
  'acceptBackoff',
  'listenBacklog',
  'drainMark',
  'sqpoll',
] as const;
/** What a ring takes beside the config keys: the setup of --workers, not the user's. */
export interface NativeRingOptions {
  /**
   * The rings in this process (one per worker thread, at least 1), by which each ring divides
   * the RLIMIT_MEMLOCK budget (native/src/engine/memlock.cc).
   */
  workers: number;
  /**
   * With sqpoll: the ringFd() of another ring of this process whose SQ thread this one shares
   * (IORING_SETUP_ATTACH_WQ: one kernel poller for every worker), or -1 for a thread of its own.
   */
  sqpollAttach: number;
}
export type NativeOptions = Record<(typeof NATIVE_OPTION_KEYS)[number], number> & NativeRingOptions;

/** The engine's options from the server's config, for one of `workers` rings in the process. */
export function nativeOptions(config: Config, workers = 1, extra: Partial<NativeRingOptions> = {}): NativeOptions {
  const options = { workers, sqpollAttach: -1, ...extra } as NativeOptions;
  for (const key of NATIVE_OPTION_KEYS) options[key] = config[key];
  return options;
}

/**
 * The batch: one record of RECORD_SLOTS values per event, [kind, conn, a, b], flattened into one
 * array (native/binding/ring_server.cc says what a and b hold per kind). Read it only through
 * the helpers below. The numbers are the C++ WsEventType's (native/src/session/ws_server.h);
 * loadAddon() refuses an addon whose RingServer.batchLayout says otherwise.
 */
export type Batch = readonly unknown[];
export const RECORD_SLOTS = 4;
export const enum EventKind {
  Request = 1,
  Message = 2,
  Closed = 3,
  Drain = 4,
  Overflow = 5,
  Refused = 6,
}
/** Bits of a Message record's `bits`. */
export const MESSAGE_BINARY = 1;
export const MESSAGE_COMPRESSED = 2;

export const eventKind = (b: Batch, i: number): EventKind => b[i] as EventKind;
export const eventConn = (b: Batch, i: number): number => b[i + 1] as number;
/** Request: a WebSocket upgrade (else plain HTTP) */
export const requestIsUpgrade = (b: Batch, i: number): boolean => b[i + 2] === 1;
export const requestOf = (b: Batch, i: number): NativeRequest => b[i + 3] as NativeRequest;
/** Message: MESSAGE_BINARY | MESSAGE_COMPRESSED */
export const messageBits = (b: Batch, i: number): number => b[i + 2] as number;
export const messageData = (b: Batch, i: number): Buffer => b[i + 3] as Buffer;
/** Closed: the close code sent or received, 1006 when the connection just ended */
export const closedCode = (b: Batch, i: number): number => b[i + 2] as number;
/** Refused: the HTTP status the engine answered with */
export const refusedStatus = (b: Batch, i: number): number => b[i + 2] as number;
export const refusedUpgrade = (b: Batch, i: number): boolean => b[i + 3] === 1;

export interface NativeBatchLayout {
  eventKinds: Record<string, number>;
  recordSlots: number;
  messageBits: { binary: number; compressed: number };
}

const EXPECTED_LAYOUT: NativeBatchLayout = {
  eventKinds: {
    request: EventKind.Request,
    message: EventKind.Message,
    closed: EventKind.Closed,
    drain: EventKind.Drain,
    overflow: EventKind.Overflow,
    refused: EventKind.Refused,
  },
  recordSlots: RECORD_SLOTS,
  messageBits: { binary: MESSAGE_BINARY, compressed: MESSAGE_COMPRESSED },
};

export interface NativeRingServer {
  listen(host: string, port: number): number;
  /**
   * Takes a connected TCP socket accepted elsewhere (a dupFd() copy from the main thread's
   * acceptor) as a new connection, as if this server had accepted it; works without listen().
   * The fd is the server's from the call on: closed on any failure, also after stopAccepting()
   * or destroy(), where it returns -ESHUTDOWN (no throw). Returns the connection id, or
   * -errno: EBADF, ENOTSOCK, EPROTOTYPE (UDP), EAFNOSUPPORT (not IPv4/IPv6), EINVAL (a listening
   * socket), ENOTCONN (not connected, or reset already), ESHUTDOWN, ENFILE (ringSlots taken).
   */
  adopt(fd: number): number;
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
  runTimers(handshakeTimeoutMs: number, ping: boolean): number;
  stopAccepting(): void;
  stats(): NativeStats;
  /** what the ring runs with: features in use and the sizes chosen, for the listen line */
  ringInfo(): { features: string; sizing: string };
  /** the ring's fd: another worker's sqpollAttach, to share this ring's SQ thread */
  ringFd(): number;
  destroy(): void;
}

export interface NativeAddon {
  probe(): NativeProbe;
  /**
   * dup(2) with close-on-exec: the new fd, or -errno. The acceptor copies a paused socket's
   * `_handle.fd`, destroys the Node socket (closing the original) and posts the copy to a
   * worker's adopt().
   */
  dupFd(fd: number): number;
  /** close(2), for a dupFd() copy that could not be handed over: 0 or -errno. */
  closeFd(fd: number): number;
  /** What glibc's arenas hold (mallinfo2, every thread); undefined on another C library. */
  allocatorStats(): { inUse: number; mapped: number; free: number } | undefined;
  /** malloc_trim(0) on libuv's pool: true when memory went back to the kernel; undefined on another C library. */
  allocatorTrim(): Promise<boolean> | undefined;
  /** mallopt(M_MMAP_THRESHOLD): blocks of at least `bytes` are mapped alone (and unmapped when freed). */
  allocatorPinMmapThreshold(bytes: number): boolean | undefined;
  /**
   * `onEvents` gets each batch (cut where the server writes a frame of its own). What it throws
   * is handed to `onError` (without one: an uncaught exception); every method throws after
   * destroy() but adopt(), and a TypeError for arguments of the wrong kind.
   */
  RingServer: {
    new (options: NativeOptions, onEvents: (batch: Batch) => void, onError?: (err: Error) => void): NativeRingServer;
    readonly batchLayout: NativeBatchLayout;
    readonly statsTable: readonly NativeStatRow[];
  };
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
    const addon = createRequire(import.meta.url)(ADDON_PATH) as NativeAddon;
    const layout = JSON.stringify(addon.RingServer.batchLayout);
    cached =
      layout === JSON.stringify(EXPECTED_LAYOUT)
        ? { addon }
        : {
            reason: `io_uring engine built from other sources: its batch layout ${layout} is not server/transport/native.ts's; fix: rebuild with npm rebuild`,
          };
  } catch (err) {
    cached = { reason: `io_uring engine failed to load: ${(err as Error).message}; fix: rebuild with npm rebuild` };
  }
  return cached;
}
