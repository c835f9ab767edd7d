// The uring transport: the native engine accepts, parses HTTP heads and RFC 6455 frames,
// answers ping/pong/close, and sends; this class turns its one batch per event-loop turn into
// calls on the core, and the core's sends, fanouts and closes into calls on the engine.
// A fanout is ONE call: the membership view and the pre-encoded frame cross as they are.
import { getSystemErrorName } from 'node:util';
import type { Config } from '../config.js';
import { serializeResponse } from '../http/response.js';
import type { Metrics } from '../metrics.js';
import { closeCodes, httpError } from '../protocol/errors.js';
import { acceptsDeflate, DEFLATE_RESPONSE, inflateMessage } from '../protocol/deflate.js';
import {
  type Batch,
  eventConn,
  EventKind,
  eventKind,
  loadAddon,
  MESSAGE_BINARY,
  MESSAGE_COMPRESSED,
  messageBits,
  messageData,
  nativeOptions,
  type NativeAddon,
  type NativeOptions,
  type NativeRequest,
  type NativeRingServer,
  RECORD_SLOTS,
  refusedStatus,
  refusedUpgrade,
  requestIsUpgrade,
  requestOf,
} from './native.js';
import { CONN_SLOT_MASK, type HttpResponse, type Transport, type TransportEvents, type UpgradeDecision } from './types.js';

/** Inflated bytes one turn handles before deferring compressed messages (bounds the event loop hold). */
const INFLATE_BUDGET = 4 << 20;
/** Compressed bytes a connection may have waiting, in --max-payload units, before it is closed. */
const DEFERRED_LIMIT_PAYLOADS = 4;

export class UringTransport implements Transport {
  readonly name = 'uring' as const;
  readonly features: Record<string, unknown>;
  private readonly native: NativeRingServer;
  private readonly addon: NativeAddon;
  onSocketClosed: (() => void) | undefined;
  /** upgraded connections the core knows about, by slot (an array: a Set costs more per entry) */
  private readonly openIds: number[] = [];
  private openCount = 0;
  /** open ids this transport failed (a compressed message past --max-payload or corrupt): the rest of their batch is ignored */
  private readonly failed = new Set<number>();
  /**
   * Inflating is synchronous here, and a 64 KiB read can hold 60 compressed messages of 1 MiB
   * each: past INFLATE_BUDGET inflated bytes in one turn, a connection's next compressed message
   * and everything it sent after it (its close too) wait, in order, for the following turns.
   */
  private readonly deferred = new Map<number, ({ data: Buffer; bits: number } | null)[]>();
  private deferredBytes = new Map<number, number>();
  private inflatedThisTurn = 0;
  private drainScheduled = false;
  private flushScheduled = false;
  private inBatch = false;
  private destroyed = false;
  private readonly timers: NodeJS.Timeout[];

  constructor(
    private readonly config: Config,
    private readonly events: TransportEvents,
    private readonly metrics: Metrics,
    /** rings in this process (--workers): they share RLIMIT_MEMLOCK */
    workers = 1,
    /** with --sqpoll: another worker's ringFd(), whose SQ thread this ring shares; -1 for none */
    sqpollAttach = -1,
  ) {
    const { addon, reason } = loadAddon();
    if (!addon) throw new Error(reason);
    this.addon = addon;
    const opened = openRing(
      addon,
      nativeOptions(config, workers, { sqpollAttach }),
      (batch) => this.onBatch(batch),
      (err) => this.events.fault('batch', err),
    );
    this.native = opened.native;
    const ring = this.native.ringInfo();
    this.features = { ring: ring.features, sizing: ring.sizing };
    if (opened.sqpollRefused !== undefined) this.features.sqpollRefused = opened.sqpollRefused;
    let last = this.native.stats();
    metrics.attachRing(addon.RingServer.statsTable, () => (this.destroyed ? last : (last = this.native.stats())));
    // The engine keeps no timers: handshake deadlines are checked often enough to honour
    // --handshake-timeout within half of it, pings go out every --ping-interval.
    const every = Math.max(20, Math.min(1000, Math.floor(config.handshakeTimeout / 2)));
    this.timers = [
      setInterval(() => this.native.runTimers(config.handshakeTimeout, false), every),
      setInterval(() => this.native.runTimers(config.handshakeTimeout, true), config.pingInterval),
    ];
    for (const t of this.timers) t.unref();
  }

  /** The ring's fd: the next worker's sqpollAttach (one SQ thread for every ring). */
  ringFd(): number {
    return this.native.ringFd();
  }

  listen(host: string, port: number): Promise<{ host: string; port: number }> {
    const bound = this.native.listen(host, port);
    if (bound < 0) {
      const code = getSystemErrorName(bound);
      const err = new Error(`cannot listen on ${host}:${port}: ${code}`) as NodeJS.ErrnoException;
      err.code = code;
      return Promise.reject(err);
    }
    return Promise.resolve({ host, port: bound });
  }

  adopt(fd: number): boolean {
    if (this.destroyed) {
      this.addon.closeFd(fd);
      return false;
    }
    const r = this.native.adopt(fd); // closes the fd itself when it cannot take it
    this.scheduleFlush();
    return r >= 0;
  }

  connectionCount(): number {
    return this.openCount;
  }

  private markOpen(id: number): void {
    const slot = id & CONN_SLOT_MASK;
    while (this.openIds.length <= slot) this.openIds.push(-1); // append keeps the array dense
    this.openIds[slot] = id;
    this.openCount++;
  }

  /** Forgets an open id; false when the core never saw it (a plain HTTP connection). */
  private markClosed(id: number): boolean {
    const slot = id & CONN_SLOT_MASK;
    if (this.openIds[slot] !== id) return false;
    this.openIds[slot] = -1;
    this.openCount--;
    return true;
  }

  // ---- outbound: each call queues in the engine; the turn (or setImmediate) submits once ----

  // The core calls these from timers too (token expiry): after destroy() the addon throws.

  send(id: number, frame: Buffer): boolean {
    if (this.destroyed) return false;
    const r = this.native.send(id, frame); // -ENOTCONN closing or gone, -ENOBUFS past --max-outbound
    this.scheduleFlush();
    return r >= 0;
  }

  fanout(ids: Uint32Array, frame: Buffer, exclude: number, compressed?: Buffer): number {
    if (this.destroyed) return 0;
    const n = compressed === undefined ? this.native.fanout(ids, frame, exclude) : this.native.fanout(ids, frame, exclude, compressed);
    this.scheduleFlush();
    return n;
  }

  close(id: number, code: number, reason: string): void {
    if (this.destroyed) return;
    this.native.close(id, code, reason);
    this.scheduleFlush();
  }

  /** Calls made outside a batch (timers, async HTTP answers) are submitted in setImmediate. */
  private scheduleFlush(): void {
    if (this.inBatch || this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      if (this.destroyed) return;
      this.native.flush();
      this.events.flushed();
    });
  }

  // ---- the batch ----

  private onBatch(batch: Batch): void {
    this.inflatedThisTurn = 0;
    this.inBatch = true;
    try {
      for (let i = 0; i < batch.length; i += RECORD_SLOTS) {
        // a throw while handling one event costs that event's connection, not the rest of the batch
        try {
          this.onEvent(batch, i);
        } catch (err) {
          this.onEventFault(eventConn(batch, i), err);
        }
      }
    } finally {
      this.inBatch = false;
    }
    // the binding submits everything queued above in one enter when this returns
    this.events.flushed();
  }

  private onEvent(batch: Batch, i: number): void {
    const conn = eventConn(batch, i);
    switch (eventKind(batch, i)) {
      case EventKind.Message:
        return this.onMessage(conn, messageData(batch, i), messageBits(batch, i));
      case EventKind.Request:
        if (requestIsUpgrade(batch, i)) this.onUpgrade(conn, requestOf(batch, i));
        else this.onRequest(conn, requestOf(batch, i));
        return;
      case EventKind.Closed: {
        this.onSocketClosed?.();
        const waiting = this.deferred.get(conn);
        if (waiting !== undefined) return void waiting.push(null); // after what it sent
        return this.closed(conn);
      }
      case EventKind.Drain:
        return;
      case EventKind.Overflow:
        this.metrics.slowConsumerCloses.inc();
        return;
      case EventKind.Refused:
        if (refusedUpgrade(batch, i))
          this.metrics.upgradesRejected.inc({ reason: refusedStatus(batch, i) === 426 ? 'bad_version' : 'bad_handshake' });
        return;
    }
  }

  private closed(conn: number): void {
    this.failed.delete(conn);
    if (this.markClosed(conn)) {
      this.metrics.connections.dec({ transport: this.name });
      this.events.close(conn);
    }
  }

  private onMessage(conn: number, data: Buffer, bits: number): void {
    if (this.failed.has(conn)) return;
    const waiting = this.deferred.get(conn);
    if (waiting !== undefined) return this.defer(conn, waiting, data, bits);
    if ((bits & MESSAGE_COMPRESSED) !== 0 && this.inflatedThisTurn >= INFLATE_BUDGET) {
      const queue: ({ data: Buffer; bits: number } | null)[] = [];
      this.deferred.set(conn, queue);
      this.deferredBytes.set(conn, 0);
      this.defer(conn, queue, data, bits);
      return this.scheduleDrain();
    }
    this.deliver(conn, data, bits);
  }

  /** Queues a message behind the connection's deferred ones; a client that outruns the drain is closed (1013). */
  private defer(conn: number, queue: ({ data: Buffer; bits: number } | null)[], data: Buffer, bits: number): void {
    const bytes = (this.deferredBytes.get(conn) ?? 0) + data.length;
    this.deferredBytes.set(conn, bytes);
    if (bytes > DEFERRED_LIMIT_PAYLOADS * this.config.maxPayload) {
      queue.length = 0;
      this.failed.add(conn);
      this.native.close(conn, closeCodes.slowConsumer.code, 'compressed messages faster than they can be inflated');
      this.scheduleFlush();
      return;
    }
    queue.push({ data, bits });
  }

  /**
   * A message; a compressed one (permessage-deflate) is inflated here, one call per message with
   * no state kept (client_no_context_takeover), bounded by --max-payload on the inflated size.
   */
  private deliver(conn: number, data: Buffer, bits: number): void {
    if (this.failed.has(conn)) return;
    const isBinary = (bits & MESSAGE_BINARY) !== 0;
    if ((bits & MESSAGE_COMPRESSED) === 0) return this.events.message(conn, data, isBinary);
    const inflated = inflateMessage(data, isBinary, this.config.maxPayload);
    if (inflated.ok) {
      this.inflatedThisTurn += inflated.data.length;
      return this.events.message(conn, inflated.data, isBinary);
    }
    this.failed.add(conn);
    this.native.close(conn, inflated.code, inflated.reason);
  }

  /** One turn of deferred messages, up to INFLATE_BUDGET inflated bytes, oldest connection first. */
  private scheduleDrain(): void {
    if (this.drainScheduled) return;
    this.drainScheduled = true;
    setImmediate(() => {
      this.drainScheduled = false;
      if (this.destroyed) return;
      this.inflatedThisTurn = 0;
      for (const [conn, queue] of this.deferred) {
        while (queue.length > 0 && this.inflatedThisTurn < INFLATE_BUDGET) {
          const item = queue.shift()!;
          if (item !== null) this.deferredBytes.set(conn, (this.deferredBytes.get(conn) ?? 0) - item.data.length);
          try {
            if (item === null) this.closed(conn);
            else this.deliver(conn, item.data, item.bits);
          } catch (err) {
            this.onEventFault(conn, err);
          }
        }
        if (queue.length === 0) {
          this.deferred.delete(conn);
          this.deferredBytes.delete(conn);
        }
        if (this.inflatedThisTurn >= INFLATE_BUDGET) break;
      }
      if (this.deferred.size > 0) this.scheduleDrain();
      this.scheduleFlush();
    });
  }

  /** Handling an event of `conn` threw: the core closes that WebSocket with 1011; anything else is aborted. */
  private onEventFault(conn: number, err: unknown): void {
    if (this.openIds[conn & CONN_SLOT_MASK] === conn) return this.events.fault('batch', err, conn);
    this.events.fault('batch', err);
    this.native.abort(conn);
  }

  private onUpgrade(conn: number, req: NativeRequest): void {
    // The decision may wait for a token check; the engine holds the connection (and any frames
    // pipelined behind the request) until it is accepted or rejected.
    this.events.upgrade({ url: req.url, headers: req.headers, remoteAddress: req.remoteAddress }).then(
      (decision) => this.decided(conn, decision, req.headers),
      (err: unknown) => {
        this.events.fault('upgrade', err);
        this.refuse(conn, { ...httpError('internal'), reason: 'internal' });
      },
    );
  }

  private decided(conn: number, decision: UpgradeDecision, headers: Record<string, string>): void {
    if (!decision.ok) return this.refuse(conn, decision);
    let opened = false;
    try {
      if (this.destroyed) return; // the addon is gone: every method would throw
      // declined offers (other extensions, invalid or unsupported parameters) never fail the upgrade
      const deflate = this.config.permessageDeflate === 'on' && acceptsDeflate(headers['sec-websocket-extensions']);
      if (this.native.acceptUpgrade(conn, deflate ? DEFLATE_RESPONSE : '') === 0) {
        opened = true;
        this.markOpen(conn);
        this.metrics.connections.inc({ transport: this.name });
        this.events.open(conn, decision.info, deflate);
      }
      this.scheduleFlush();
    } catch (err) {
      this.events.fault('upgrade', err);
      if (!this.destroyed) this.native.abort(conn);
    } finally {
      decision.release(opened);
    }
  }

  /** Refuses an upgrade with the same bytes the ws transport writes (then the engine closes). */
  private refuse(conn: number, res: HttpResponse & { reason: string }): void {
    if (this.destroyed) return;
    this.metrics.upgradesRejected.inc({ reason: res.reason });
    this.native.respond(conn, serializeResponse(res, false), false);
    this.scheduleFlush();
  }

  private onRequest(conn: number, req: NativeRequest): void {
    this.events
      .http({ method: req.method, url: req.url, headers: req.headers, body: req.body })
      .then(
        (res) =>
          this.respond(conn, req.method === 'HEAD' ? { ...res, body: '', bodyLength: Buffer.byteLength(res.body) } : res, req.keepAlive),
        (err: unknown) => {
          this.events.fault('http', err);
          this.respond(conn, httpError('internal'), false);
        },
      )
      .catch((err: unknown) => {
        // answering threw: the request cannot be answered, so its connection goes
        this.events.fault('http', err);
        if (!this.destroyed) this.native.abort(conn);
      });
  }

  private respond(conn: number, res: HttpResponse & { bodyLength?: number }, keepAlive: boolean): void {
    if (this.destroyed) return;
    this.native.respond(conn, serializeResponse(res, keepAlive), keepAlive);
    this.scheduleFlush();
  }

  // ---- lifecycle ----

  async stopAccepting(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    this.native.stopAccepting();
  }

  async closeAll(code: number, reason: string, timeoutMs: number): Promise<void> {
    for (const id of this.openIds) if (id !== -1) this.native.close(id, code, reason);
    this.native.flush();
    // every close has --close-timeout to complete; what is left after it (or after the drain
    // timeout, when shorter) is aborted by destroy()
    const deadline = Date.now() + Math.min(timeoutMs, this.config.closeTimeout);
    while (this.openCount > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    this.destroyed = true;
    this.native.destroy();
  }
}

/**
 * new RingServer(options), stepping down when the kernel refuses SQPOLL: without the attach
 * (the other ring is not an SQPOLL ring of this process), then without SQPOLL. SQPOLL trades a
 * core for fewer syscalls; a server that cannot have it still serves, and `sqpollRefused` says
 * why, once, in the listen line (docs/engine.md, "SQPOLL"). Other errors are thrown as they are.
 */
export function openRing(
  addon: NativeAddon,
  options: NativeOptions,
  onEvents: (batch: Batch) => void,
  onError: (err: Error) => void,
): { native: NativeRingServer; sqpollRefused?: string } {
  const steps: NativeOptions[] = [options];
  if (options.sqpoll > 0 && options.sqpollAttach >= 0) steps.push({ ...options, sqpollAttach: -1 });
  if (options.sqpoll > 0) steps.push({ ...options, sqpoll: 0, sqpollAttach: -1 });
  const refused: string[] = [];
  for (const [i, step] of steps.entries()) {
    try {
      const native = new addon.RingServer(step, onEvents, onError);
      if (refused.length === 0) return { native };
      const fix =
        step.sqpoll > 0
          ? 'this ring has an SQ thread of its own'
          : 'running without SQPOLL; fix: a kernel >= 5.11 (5.12 to share the thread), or --sqpoll 0';
      return { native, sqpollRefused: `${refused.join('; ')}; ${fix}` };
    } catch (err) {
      const errno = (err as { errno?: unknown }).errno;
      if (typeof errno !== 'number' || i === steps.length - 1) throw err;
      refused.push((err as Error).message);
    }
  }
  throw new Error('unreachable');
}
