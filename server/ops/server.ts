// The ops page's own HTTP listener (--ops, on --ops-port). It is apart from the WebSocket port
// because its event stream is a response that never ends, which the io_uring engine's one-shot
// HTTP answers cannot carry; being on the main thread also keeps it answering while a worker is
// stalled or dead, which is when it is needed. Every second one sampler reads the node (the
// registry the server already keeps, the hubs' topics, the workers' state), and each open page
// gets the same JSON line: the cost is one sample a second however many pages are open, at most
// --ops-max-viewers of them.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { hostname, networkInterfaces } from 'node:os';
import type { Logger } from 'pino';
import type { Authenticator } from '../auth/tokens.js';
import type { Config } from '../config.js';
import { mergeTopics } from './hub-view.js';
import { OpsGuard } from './auth.js';
import { NodeRegistry, PROBE_MS, type SeenNode } from './nodes.js';
import { opsModule, opsPage } from './page.js';
import { History, point, totals, type Point, type Totals } from './series.js';
import type { OpsSource } from './source.js';
import { TOPIC_ROWS, USER_CONNS, type NodeRow, type TopicRow, type UserConn } from './types.js';
import { parseRedisUrl } from '../broker/url.js';

/** A page whose stream has this much unsent is not reading: it is cut rather than buffered for. */
const MAX_UNSENT_BYTES = 1024 * 1024;
const MAX_QUERY = 200;

/** The JSON line every open page gets each second. */
export interface OpsEvent {
  t: number;
  /** the node this page is served by */
  self: NodeRow;
  /** every node of the cluster (this one included) with the Redis broker; undefined while Redis cannot be read */
  nodes: { row: NodeRow; answering: boolean; silentSeconds: number }[] | undefined;
  point: Point;
  topics: TopicRow[];
  viewers: { open: number; max: number };
  /** the first line of a stream only: the last five minutes */
  history?: Point[];
}

export class OpsServer {
  private readonly http: Server;
  private readonly guard: OpsGuard;
  private readonly viewers = new Set<ServerResponse>();
  private readonly history = new History();
  private readonly registry: NodeRegistry | undefined;
  private prev: Totals | undefined;
  private last: OpsEvent | undefined;
  private lastNodes: SeenNode[] | undefined;
  private timer: NodeJS.Timeout | undefined;
  private ticking = false;
  private id = '';
  private opsUrl = '';

  constructor(
    private readonly config: Config,
    private readonly source: OpsSource,
    private readonly log: Logger,
    auth: Authenticator | null,
  ) {
    this.guard = new OpsGuard(config.apiKey, auth);
    const target = config.broker === 'memory' ? undefined : parseRedisUrl(config.broker);
    if (target !== undefined && typeof target !== 'string')
      this.registry = new NodeRegistry(target, config.brokerPrefix, config.brokerTimeout);
    this.http = createServer((req, res) => {
      this.route(req, res).catch((err: unknown) => {
        this.log.error({ event: 'ops_error', err: err instanceof Error ? err.stack : String(err) }, 'ops request failed');
        if (!res.headersSent) send(res, 500, { error: 'internal' });
        else res.destroy();
      });
    });
  }

  /**
   * Listens on --ops-host/--ops-port. Called before the WebSocket port listens, so a taken ops
   * port fails the start before anything is served.
   */
  async listen(): Promise<{ host: string; port: number }> {
    const host = this.config.opsHost ?? this.config.host;
    return new Promise((resolve, reject) => {
      this.http.once('error', reject);
      this.http.listen({ host, port: this.config.opsPort }, () => {
        this.http.off('error', reject);
        const a = this.http.address();
        resolve(typeof a === 'object' && a !== null ? { host: a.address, port: a.port } : { host, port: this.config.opsPort });
      });
    });
  }

  /** Starts sampling once the node serves; it is named by its WebSocket port (`hostname:port`). */
  async start(mainPort: number): Promise<void> {
    this.id = `${hostname()}:${mainPort}`;
    const a = this.http.address();
    const port = typeof a === 'object' && a !== null ? a.port : this.config.opsPort;
    const host = this.config.opsHost ?? this.config.host;
    this.opsUrl = `http://${reachable(host)}:${port}`;
    await this.tick();
    this.timer = setInterval(() => void this.tick(), PROBE_MS);
    this.timer.unref();
    this.log.info({ event: 'ops_listening', host, port, node: this.id }, `ops page on http://${host}:${port}/ops`);
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    for (const v of this.viewers) v.end();
    this.viewers.clear();
    this.http.closeAllConnections();
    await new Promise<void>((resolve) => this.http.close(() => resolve()));
    await this.registry?.close(this.id);
  }

  // ---- the sampler ----

  private async tick(): Promise<void> {
    if (this.ticking) return; // a sample slower than a second (a stalled worker): the next waits
    this.ticking = true;
    try {
      const watched = this.viewers.size > 0;
      const [metrics, answers] = await Promise.all([
        this.source.metrics(),
        // while nobody watches, the hubs are only asked whether they answer (the workers' state)
        this.source.ask(watched ? { kind: 'topics', q: '', limit: TOPIC_ROWS } : { kind: 'ping' }),
      ]);
      const now = Date.now();
      const cur = totals(metrics, now);
      const p = point(this.prev, cur);
      this.prev = cur;
      this.history.push(p);
      // the node's connections are its open WebSockets (a worker's are the TCP connections it holds)
      const self: NodeRow = { ...this.source.node(), connections: cur.connections, id: this.id, ops: this.opsUrl, at: now };
      if (this.registry !== undefined) {
        const nodes = await this.registry.exchange(self, now);
        // Redis cannot be read: the others are shown as last seen, none of them answering
        this.lastNodes = nodes ?? this.lastNodes?.map((n) => (n.row.id === this.id ? { ...n, row: self } : { ...n, answering: false }));
      }
      const topics = mergeTopics(
        answers.map((a) => (a.kind === 'topics' ? a.rows : [])),
        TOPIC_ROWS,
      );
      this.last = {
        t: now,
        self,
        nodes: this.lastNodes,
        point: p,
        topics,
        viewers: { open: this.viewers.size, max: this.config.opsMaxViewers },
      };
      const line = `data: ${JSON.stringify(this.last)}\n\n`;
      for (const v of this.viewers) this.write(v, line);
    } catch (err) {
      this.log.warn({ event: 'ops_sample_failed', err: err instanceof Error ? err.message : String(err) }, 'ops sample failed');
    } finally {
      this.ticking = false;
    }
  }

  private write(v: ServerResponse, line: string): void {
    if (v.writableLength > MAX_UNSENT_BYTES) return void v.destroy();
    v.write(line);
  }

  // ---- routes ----

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://ops');
    const get = req.method === 'GET' || req.method === 'HEAD';
    switch (url.pathname) {
      case '/ops':
      case '/ops/':
        // the page holds no data: it shows a login form until the key opens its stream
        if (!get) return send(res, 405, { error: 'use GET' }, { Allow: 'GET, HEAD' });
        return page(res, 'text/html; charset=utf-8', opsPage());
      case '/ops/app.js':
        if (!get) return send(res, 405, { error: 'use GET' }, { Allow: 'GET, HEAD' });
        return page(res, 'text/javascript; charset=utf-8', opsModule());
      case '/ops/events':
        if (!get) return send(res, 405, { error: 'use GET' }, { Allow: 'GET, HEAD' });
        if (!(await this.guard.allows(req))) return unauthorized(res);
        return this.stream(req, res);
      case '/ops/topics': {
        if (!get) return send(res, 405, { error: 'use GET' }, { Allow: 'GET, HEAD' });
        if (!(await this.guard.allows(req))) return unauthorized(res);
        const q = url.searchParams.get('q') ?? '';
        if (q.length > MAX_QUERY) return send(res, 400, { error: `q is longer than ${MAX_QUERY} characters` });
        const answers = await this.source.ask({ kind: 'topics', q, limit: TOPIC_ROWS });
        const rows = mergeTopics(
          answers.map((a) => (a.kind === 'topics' ? a.rows : [])),
          TOPIC_ROWS,
        );
        return send(res, 200, { node: this.id, topics: rows });
      }
      case '/ops/user': {
        if (!get) return send(res, 405, { error: 'use GET' }, { Allow: 'GET, HEAD' });
        if (!(await this.guard.allows(req))) return unauthorized(res);
        const name = url.searchParams.get('name') ?? '';
        if (name === '' || name.length > MAX_QUERY) return send(res, 400, { error: `name must be 1..${MAX_QUERY} characters` });
        const mine = await this.localUser(name);
        // asked by another node's ops server: this node's own answer only
        if (url.searchParams.get('local') === '1') return send(res, 200, { node: this.id, connections: mine, unreached: [] });
        const { conns, unreached } = await this.otherNodesUser(name, req.headers.authorization!);
        return send(res, 200, { node: this.id, connections: [...mine, ...conns].slice(0, USER_CONNS), unreached });
      }
      default:
        return send(res, 404, { error: `no route for ${url.pathname.slice(0, 100)}` });
    }
  }

  private async localUser(name: string): Promise<(UserConn & { node: string })[]> {
    const answers = await this.source.ask({ kind: 'user', name, limit: USER_CONNS });
    const conns: (UserConn & { node: string })[] = [];
    for (const a of answers) if (a.kind === 'user') for (const c of a.conns) conns.push({ ...c, node: this.id });
    return conns;
  }

  /**
   * The same lookup on every other node that answers, through its ops server, with the caller's
   * own Authorization (the nodes share --api-key or the JWT key); a node that cannot be asked is
   * named, not hidden.
   */
  private async otherNodesUser(
    name: string,
    authorization: string,
  ): Promise<{ conns: (UserConn & { node: string })[]; unreached: string[] }> {
    const others = (this.lastNodes ?? []).filter((n) => n.row.id !== this.id);
    const conns: (UserConn & { node: string })[] = [];
    const unreached: string[] = [];
    await Promise.all(
      others.map(async (n) => {
        try {
          if (!n.answering || n.row.ops === undefined) throw new Error('not answering');
          const res = await fetch(`${n.row.ops}/ops/user?local=1&name=${encodeURIComponent(name)}`, {
            headers: { Authorization: authorization },
            signal: AbortSignal.timeout(2 * PROBE_MS),
          });
          if (!res.ok) throw new Error(`HTTP ${res.status}`);
          conns.push(...((await res.json()) as { connections: (UserConn & { node: string })[] }).connections);
        } catch {
          unreached.push(n.row.id);
        }
      }),
    );
    return { conns, unreached };
  }

  private stream(req: IncomingMessage, res: ServerResponse): void {
    if (this.viewers.size >= this.config.opsMaxViewers) {
      return send(res, 503, { error: `${this.config.opsMaxViewers} ops pages are open (--ops-max-viewers)` }, { 'Retry-After': '5' });
    }
    res.writeHead(200, {
      'Content-Type': 'text/event-stream',
      'Cache-Control': 'no-store',
      'X-Content-Type-Options': 'nosniff',
      // a proxy in front (nginx) must not hold the lines back
      'X-Accel-Buffering': 'no',
    });
    if (req.method === 'HEAD') return void res.end();
    req.socket.setNoDelay(true);
    this.viewers.add(res);
    res.on('close', () => this.viewers.delete(res));
    if (this.last !== undefined) {
      const first: OpsEvent = {
        ...this.last,
        viewers: { open: this.viewers.size, max: this.config.opsMaxViewers },
        history: this.history.all(),
      };
      this.write(res, `data: ${JSON.stringify(first)}\n\n`);
    }
  }
}

/** An address another node can reach this one at: the listen address, or this host's first external IPv4 for a wildcard. */
function reachable(host: string): string {
  if (host !== '0.0.0.0' && host !== '::') return host.includes(':') ? `[${host}]` : host;
  for (const list of Object.values(networkInterfaces()))
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  return hostname();
}

function send(res: ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}): void {
  const body = JSON.stringify(value);
  res.writeHead(status, {
    'Content-Type': 'application/json',
    'Cache-Control': 'no-store',
    'X-Content-Type-Options': 'nosniff',
    ...headers,
  });
  res.end(body);
}

function unauthorized(res: ServerResponse): void {
  send(res, 401, { error: 'the ops page needs Authorization: Bearer <--api-key> or an admin token' }, { 'WWW-Authenticate': 'Bearer' });
}

function page(res: ServerResponse, type: string, body: string): void {
  res.writeHead(200, {
    'Content-Type': type,
    'Cache-Control': 'no-cache',
    'X-Content-Type-Options': 'nosniff',
    'X-Frame-Options': 'DENY',
    'Content-Security-Policy': "default-src 'self'; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'",
    'Referrer-Policy': 'no-referrer',
  });
  res.end(body);
}
