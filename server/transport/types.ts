// The boundary between the server core (hub, HTTP API, upgrade policy) and a transport
// (ws fallback, or the io_uring engine). Connections are small integers; a transport moves
// bytes and reports events, the core decides everything else.

import type { Permissions } from '../auth/permissions.js';

export type TransportName = 'ws' | 'uring';

/**
 * Connection ids are `generation << 18 | slot` on uring (native/src/engine/user_data.h) and plain
 * slots on ws; either way `id & CONN_SLOT_MASK` is a small dense index for per-connection arrays.
 */
export const CONN_SLOT_MASK = (1 << 18) - 1;

/** A plain HTTP request that is not an upgrade, body fully read (bounded by --max-payload). */
export interface HttpRequest {
  method: string;
  /** path and query as sent, e.g. "/publish?x=1" */
  url: string;
  /** lower-cased header names */
  headers: Record<string, string | undefined>;
  body: Buffer;
}

export interface HttpResponse {
  status: number;
  headers: Record<string, string>;
  body: string | Buffer;
}

/** An upgrade request whose RFC 6455 handshake fields the transport has already checked. */
export interface UpgradeRequest {
  url: string;
  headers: Record<string, string | undefined>;
  remoteAddress: string;
}

export interface ConnectionInfo {
  /** topics to subscribe at connect (?topics=) */
  topics: string[];
  /** authenticated user id, '' when anonymous */
  user: string;
  /** what the token allows; null when auth is off or the token has no topics claim */
  perms: Permissions | null;
  /** when the token expires (ms since the epoch); the connection is closed with 4001 then */
  expiresAt: number | undefined;
}

export type UpgradeDecision =
  /**
   * `release(opened)` ends the hold on the --max-connections slot taken before the token check:
   * call it once, when the connection is open (the slot stays its own) or gone (given back)
   */
  | { ok: true; info: ConnectionInfo; release: (opened: boolean) => void }
  /** an HTTP error answer (server/protocol/errors.ts); `reason` labels ringcast_upgrades_rejected_total */
  | { ok: false; status: number; headers: Record<string, string>; body: string; reason: string };

/** What a transport reports to the core. Called on the event loop, never re-entrantly. */
export interface TransportEvents {
  http(req: HttpRequest): Promise<HttpResponse>;
  /** Decide an upgrade: path, limits, origin, auth, initial topics. */
  upgrade(req: UpgradeRequest): Promise<UpgradeDecision>;
  /** `deflate`: the connection negotiated permessage-deflate (docs/protocol.md, extensions). */
  open(id: number, info: ConnectionInfo, deflate: boolean): void;
  /** One complete inbound message (already unmasked, UTF-8 checked when text). */
  message(id: number, data: Buffer, isBinary: boolean): void;
  close(id: number): void;
  /** After every per-turn flush: everything fanned out this turn has been handed to the kernel. */
  flushed(): void;
  /**
   * Handling an event threw or rejected (a bug in ringcast): log it, count it, and when `id` is
   * an open WebSocket close it with 1011 (its further input is ignored). A plain request or an
   * upgrade is answered 500 or aborted by the transport. The server goes on.
   */
  fault(where: string, err: unknown, id?: number): void;
}

export interface Transport {
  readonly name: TransportName;
  /** Features in use, for the listen log line. */
  readonly features: Record<string, unknown>;
  listen(host: string, port: number): Promise<{ host: string; port: number }>;
  /**
   * Takes over a TCP connection accepted elsewhere (the main thread of --workers): the fd is the
   * transport's from now on, closed by it even when it cannot be taken (false).
   */
  adopt(fd: number): boolean;
  /** Called once per TCP connection that ended (adopted or accepted), for the acceptor's balance. */
  onSocketClosed: (() => void) | undefined;
  /**
   * Queue one frame (a complete encoded WebSocket frame) to one connection; false when it was not
   * queued (the connection is closing, gone, or this frame took it past --max-outbound).
   */
  send(id: number, frame: Buffer): boolean;
  /**
   * Queue the same frame to every connection in `ids` but `exclude` (-1 for none); returns
   * how many connections it was queued on. With `compressed` (the same message with
   * permessage-deflate), connections that negotiated the extension get that frame instead.
   * Neither frame may be modified afterwards.
   */
  fanout(ids: Uint32Array, frame: Buffer, exclude: number, compressed?: Buffer): number;
  /** Close one connection with a close frame (code, reason), after its queued frames. */
  close(id: number, code: number, reason: string): void;
  connectionCount(): number;
  /** Stop accepting new TCP connections; existing ones go on. */
  stopAccepting(): Promise<void>;
  /** Close every WebSocket with `code`, wait until all are gone or `timeoutMs`, then cut the rest. */
  closeAll(code: number, reason: string, timeoutMs: number): Promise<void>;
}
