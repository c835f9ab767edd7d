// The ws transport: Node's http server and the `ws` package parse handshakes and inbound
// frames; outbound frames are the core's pre-encoded buffers written straight to each
// socket. Sockets written in a turn are corked once and uncorked together in setImmediate,
// so several publishes in one event-loop turn become one write per socket.
import { closeSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { Socket as NetSocket, type Socket } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Config } from '../config.js';
import { serializeResponse } from '../http/response.js';
import type { Metrics } from '../metrics.js';
import { closeCodes, httpError, type ErrorCode } from '../protocol/errors.js';
import { checkHandshake } from './ws-handshake.js';
import { acceptsDeflate, EXTENSION } from '../protocol/deflate.js';
import type { ConnectionInfo, HttpResponse, Transport, TransportEvents } from './types.js';

/** One WebSocket of this transport (the core knows it by `id`). */
interface WsPeer {
  id: number;
  ws: WebSocket;
  socket: Socket;
  alive: boolean;
  corked: boolean;
  closing: boolean;
  /** negotiated permessage-deflate: fanouts write it the compressed frame */
  deflate: boolean;
  /** aborts the connection when it has not finished closing within --close-timeout */
  closeTimer: NodeJS.Timeout | undefined;
}

export class WsTransport implements Transport {
  readonly name = 'ws' as const;
  readonly features = {};
  private readonly http: Server;
  private readonly wss: WebSocketServer;
  /** slot -> connection; slots are reused through `free` */
  private readonly conns: (WsPeer | undefined)[] = [];
  private readonly free: number[] = [];
  private live = 0;
  private corkedThisTurn: WsPeer[] = [];
  private flushScheduled = false;
  private readonly pingTimer: NodeJS.Timeout;
  private readonly sockets = new Set<Socket>();
  onSocketClosed: (() => void) | undefined;

  constructor(
    private readonly config: Config,
    private readonly events: TransportEvents,
    private readonly metrics: Metrics,
  ) {
    this.http = createServer({
      // handshake and request heads must arrive within --handshake-timeout (ms)
      headersTimeout: config.handshakeTimeout,
      requestTimeout: config.handshakeTimeout,
      connectionsCheckingInterval: Math.max(50, Math.min(1000, config.handshakeTimeout / 2)),
      keepAliveTimeout: 5000,
      maxHeaderSize: config.maxHeadBytes,
    });
    // one more than allowed, so a request with too many fields is seen (and refused with 431)
    this.http.maxHeadersCount = config.maxHeaders + 1;
    const options = {
      noServer: true,
      maxPayload: config.maxPayload,
      // The offer is judged by acceptsDeflate (one rule for both transports) and handed to ws
      // rewritten as a bare "permessage-deflate", which these options answer with both
      // no_context_takeover parameters. ws inflates what clients send (bounded by maxPayload
      // on the inflated size); it never compresses: the core's frames are written as they are.
      perMessageDeflate: config.permessageDeflate === 'on' ? { serverNoContextTakeover: true, clientNoContextTakeover: true } : false,
      clientTracking: false,
      // ws >= 8.19 (not in @types/ws yet): its own close deadline, a backstop behind ours
      closeTimeout: config.closeTimeout + 1000,
    };
    this.wss = new WebSocketServer(options);
    this.http.on('connection', (socket: Socket) => this.onConnection(socket));
    this.http.on('request', (req, res) => {
      this.handshakeDone(req.socket);
      this.onRequest(req, res).catch((err: unknown) => {
        this.events.fault('http', err);
        if (!res.headersSent) sendResponse(res, httpError('internal'), true);
        else res.destroy();
      });
    });
    this.http.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
      this.handshakeDone(socket);
      this.onUpgrade(req, socket, head);
    });
    this.http.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
      const code: ErrorCode = err.code === 'HPE_HEADER_OVERFLOW' ? 'headers_too_large' : 'bad_request';
      if (socket.writable) writeRaw(socket, httpError(code, code === 'bad_request' ? 'malformed HTTP request' : undefined));
      else socket.destroy();
    });
    this.pingTimer = setInterval(() => this.pingAll(), config.pingInterval);
    this.pingTimer.unref();
  }

  listen(host: string, port: number): Promise<{ host: string; port: number }> {
    return new Promise((resolve, reject) => {
      this.http.once('error', reject);
      this.http.listen({ host, port }, () => {
        this.http.off('error', reject);
        const addr = this.http.address();
        resolve(typeof addr === 'object' && addr ? { host: addr.address, port: addr.port } : { host, port });
      });
    });
  }

  adopt(fd: number): boolean {
    let socket: Socket;
    try {
      socket = new NetSocket({ fd, readable: true, writable: true });
    } catch {
      try {
        closeSync(fd); // not a socket Node can take: closed all the same
      } catch {
        // already closed
      }
      return false;
    }
    this.http.emit('connection', socket);
    return true;
  }

  connectionCount(): number {
    return this.live;
  }

  // ---- outbound ----

  send(id: number, frame: Buffer): boolean {
    const conn = this.conns[id];
    return conn !== undefined && this.write(conn, frame);
  }

  fanout(ids: Uint32Array, frame: Buffer, exclude: number, compressed?: Buffer): number {
    let n = 0;
    let deflated = 0;
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      if (id === exclude) continue;
      const conn = this.conns[id];
      if (conn === undefined) continue;
      const zip = compressed !== undefined && conn.deflate;
      if (!this.write(conn, zip ? compressed : frame)) continue;
      n++;
      if (zip) deflated++;
    }
    if (deflated > 0 && compressed !== undefined) this.metrics.sentCompressed(deflated, compressed.length, frame.length);
    return n;
  }

  private write(conn: WsPeer, frame: Buffer): boolean {
    if (conn.closing) return false;
    const { socket } = conn;
    if (socket.writableLength + frame.length > this.config.maxOutbound) {
      // Bytes held back by this turn's cork are not the client's fault: hand them to the
      // kernel first, and judge the connection by what the kernel would not take.
      if (conn.corked) {
        conn.corked = false;
        socket.uncork();
      }
      if (socket.writableLength + frame.length > this.config.maxOutbound) {
        this.slowConsumer(conn);
        return false;
      }
    }
    if (!conn.corked) {
      socket.cork();
      conn.corked = true;
      this.corkedThisTurn.push(conn);
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(this.flush);
      }
    }
    socket.write(frame);
    return true;
  }

  private readonly flush = (): void => {
    this.flushScheduled = false;
    const corked = this.corkedThisTurn;
    this.corkedThisTurn = [];
    for (const conn of corked) {
      if (!conn.corked) continue; // already flushed early by write()
      conn.corked = false;
      conn.socket.uncork();
    }
    this.events.flushed();
  };

  /** Past --max-outbound: stop queueing, close with 1013 behind what is queued (cut after --close-timeout). */
  private slowConsumer(conn: WsPeer): void {
    this.metrics.slowConsumerCloses.inc();
    this.closeConn(conn, closeCodes.slowConsumer.code, closeCodes.slowConsumer.reason);
  }

  close(id: number, code: number, reason: string): void {
    const conn = this.conns[id];
    if (conn !== undefined) this.closeConn(conn, code, reason);
  }

  /** Queues the close frame behind what is queued; a connection still open after --close-timeout is aborted. */
  private closeConn(conn: WsPeer, code: number, reason: string): void {
    if (conn.closing) return;
    conn.closing = true;
    conn.ws.close(code, reason);
    this.armCloseTimer(conn);
  }

  private armCloseTimer(conn: WsPeer): void {
    if (conn.closeTimer !== undefined) return;
    conn.closeTimer = setTimeout(() => {
      this.metrics.closeTimedOut();
      conn.ws.terminate();
    }, this.config.closeTimeout);
    conn.closeTimer.unref();
  }

  // ---- lifecycle ----

  async stopAccepting(): Promise<void> {
    clearInterval(this.pingTimer);
    await new Promise<void>((resolve) => {
      this.http.close(() => undefined);
      this.http.closeIdleConnections();
      resolve();
    });
  }

  async closeAll(code: number, reason: string, timeoutMs: number): Promise<void> {
    for (const conn of this.conns) if (conn !== undefined) this.closeConn(conn, code, reason);
    const deadline = Date.now() + timeoutMs;
    while (this.live > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    for (const conn of this.conns) conn?.ws.terminate();
    for (const socket of this.sockets) socket.destroy();
  }

  // ---- connections ----

  private onConnection(socket: Socket): void {
    this.sockets.add(socket);
    socket.setNoDelay(true);
    // a client that never completes its first request or upgrade is dropped
    const timer = setTimeout(() => socket.destroy(), this.config.handshakeTimeout);
    (socket as Socket & { handshakeTimer?: NodeJS.Timeout }).handshakeTimer = timer;
    socket.once('close', () => {
      clearTimeout(timer);
      this.sockets.delete(socket);
      this.onSocketClosed?.();
    });
  }

  private handshakeDone(socket: Socket): void {
    clearTimeout((socket as Socket & { handshakeTimer?: NodeJS.Timeout }).handshakeTimer);
  }

  private onUpgrade(req: IncomingMessage, socket: Socket, head: Buffer): void {
    // Node's http server lets go of an upgrading socket: a reset while the token is checked or
    // the refusal is written must not become an uncaught 'error'
    socket.on('error', () => undefined);
    if (req.rawHeaders.length / 2 > this.config.maxHeaders) {
      return this.reject(socket, httpError('headers_too_large', `more than ${this.config.maxHeaders} header fields`), 'bad_handshake');
    }
    // Node joins repeated fields; a request with two Host fields is a 400 (RFC 7230 5.4)
    if (countField(req.rawHeaders, 'host') > 1)
      return this.reject(socket, httpError('bad_handshake', 'more than one Host field'), 'bad_handshake');
    const bad = checkHandshake(req.method ?? '', req.httpVersion, req.headers);
    if (bad !== null)
      return this.reject(
        socket,
        httpError(bad.reason === 'bad_version' ? 'bad_version' : 'bad_handshake', bad.body, bad.headers),
        bad.reason,
      );
    // declined offers (other extensions, invalid or unsupported parameters) never fail the upgrade
    const deflate = this.config.permessageDeflate === 'on' && acceptsDeflate(req.headers['sec-websocket-extensions']);
    if (deflate) req.headers['sec-websocket-extensions'] = EXTENSION;
    else delete req.headers['sec-websocket-extensions'];
    this.events
      .upgrade({
        url: req.url ?? '/',
        headers: req.headers as Record<string, string | undefined>,
        remoteAddress: socket.remoteAddress ?? '',
      })
      .then((decision) => {
        if (!decision.ok) {
          if (!socket.destroyed) this.reject(socket, decision, decision.reason);
          return;
        }
        let opened = false;
        try {
          if (socket.destroyed) return; // gone while a token was checked
          this.wss.handleUpgrade(req, socket, head, (ws) => {
            opened = true;
            this.attach(ws, socket, decision.info, deflate);
          });
        } finally {
          decision.release(opened);
        }
      })
      .catch((err: unknown) => {
        this.events.fault('upgrade', err);
        if (!socket.destroyed) writeRaw(socket, httpError('internal'));
      });
  }

  private reject(socket: Socket, res: HttpResponse, reason: string): void {
    this.metrics.upgradesRejected.inc({ reason });
    writeRaw(socket, res);
  }

  private attach(ws: WebSocket, socket: Socket, info: ConnectionInfo, deflate: boolean): void {
    const id = this.free.pop() ?? this.conns.length;
    const conn: WsPeer = { id, ws, socket, alive: true, corked: false, closing: false, deflate, closeTimer: undefined };
    this.conns[id] = conn;
    this.live++;
    this.metrics.connections.inc({ transport: this.name });
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (deflate) releaseInflater(ws);
      conn.alive = true;
      if (conn.closing) return; // the server decided to close it: its requests are no longer handled
      try {
        this.events.message(id, data, isBinary);
      } catch (err) {
        this.events.fault('message', err, id);
      }
    });
    ws.on('pong', () => {
      conn.alive = true;
    });
    ws.on('error', () => {
      // a protocol error: ws sent the close code (1002, 1007, 1009) and waits for the answer
      conn.closing = true;
      this.armCloseTimer(conn);
    });
    ws.on('close', () => {
      clearTimeout(conn.closeTimer);
      this.conns[id] = undefined;
      this.free.push(id);
      this.live--;
      this.metrics.connections.dec({ transport: this.name });
      try {
        this.events.close(id);
      } catch (err) {
        this.events.fault('close', err);
      }
    });
    try {
      this.events.open(id, info, deflate);
    } catch (err) {
      this.events.fault('open', err);
      conn.closing = true;
      ws.terminate();
    }
  }

  private pingAll(): void {
    for (const conn of this.conns) {
      if (conn === undefined) continue;
      if (!conn.alive) {
        conn.ws.terminate();
        continue;
      }
      conn.alive = false;
      conn.ws.ping();
    }
  }

  // ---- plain HTTP ----

  private async onRequest(req: IncomingMessage, res: import('node:http').ServerResponse): Promise<void> {
    if (req.rawHeaders.length / 2 > this.config.maxHeaders) {
      return sendResponse(res, httpError('headers_too_large', `more than ${this.config.maxHeaders} header fields`), true);
    }
    if (countField(req.rawHeaders, 'host') > 1) return sendResponse(res, httpError('bad_request', 'more than one Host field'), true);
    const limit = this.config.maxPayload;
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > limit) return sendResponse(res, tooLarge(limit), true);
    const chunks: Buffer[] = [];
    let size = 0;
    try {
      for await (const chunk of req as AsyncIterable<Buffer>) {
        size += chunk.length;
        if (size > limit) return sendResponse(res, tooLarge(limit), true);
        chunks.push(chunk);
      }
    } catch {
      return; // the client went away mid-body
    }
    const response = await this.events.http({
      method: req.method ?? 'GET',
      url: req.url ?? '/',
      headers: req.headers as Record<string, string | undefined>,
      body: Buffer.concat(chunks, size),
    });
    sendResponse(res, response, false);
  }
}

/**
 * ws keeps the inflater of a connection that sent a compressed message (about 40 KiB of zlib
 * state) for its next one; with client_no_context_takeover nothing in it is needed again, so
 * it is closed when the message is out (ws makes a new one for the next compressed message).
 * 'message' is emitted from the inflater's flush callback, after ws's last use of it.
 */
function releaseInflater(ws: WebSocket): void {
  const pmd = (ws as unknown as { _extensions: Record<string, { _inflate: { close(): void } | null } | undefined> })._extensions[EXTENSION];
  if (pmd?._inflate) {
    pmd._inflate.close();
    pmd._inflate = null;
  }
}

function tooLarge(limit: number): HttpResponse {
  return httpError('too_large', `body exceeds ${limit} bytes`);
}

function countField(rawHeaders: string[], lowerName: string): number {
  let n = 0;
  for (let i = 0; i < rawHeaders.length; i += 2) if (rawHeaders[i]!.toLowerCase() === lowerName) n++;
  return n;
}

function sendResponse(res: import('node:http').ServerResponse, r: HttpResponse, close: boolean): void {
  const headers: Record<string, string | number> = { ...r.headers, 'Content-Length': Buffer.byteLength(r.body) };
  if (close) headers.Connection = 'close';
  res.writeHead(r.status, headers);
  res.end(r.body);
}

/** Writes a complete HTTP/1.1 response on a raw socket (no ServerResponse at upgrade) and ends it. */
function writeRaw(socket: Socket, r: HttpResponse): void {
  socket.end(serializeResponse(r, false));
  socket.once('finish', () => socket.destroy());
}
