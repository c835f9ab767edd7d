// A TCP proxy on 127.0.0.1:0 that a test controls, to break the link between a client and the
// server in the ways networks do: cut every connection (both ends see a reset or FIN), refuse new
// ones for a while, go silent (stop forwarding without closing: a dead NAT entry; the bytes are
// dropped), or pause (a pulled cable plugged back in before TCP gives up: the bytes wait in the
// kernel and arrive, in order, on resume()), or run late (a link whose client sent something
// matching a pattern gets the server's bytes a fixed delay later, in order: a Redis subscription
// link behind a backlog). Between a node and Redis, pause/resume and lag keep the RESP stream
// intact; silence corrupts it, so a silenced link is only good for being cut.
import { createServer, connect, type Server, type Socket } from 'node:net';

type Direction = 'both' | 'down';

interface Pair {
  client: Socket;
  upstream: Socket;
  /** data in this direction is dropped silently */
  silent: Direction | undefined;
  /** what the client sent, while it is looked at for the lag pattern */
  sent: string;
  /** server -> client bytes are held this long (ms), once the client sent the lag pattern */
  lagMs: number;
}

function hold(p: Pair): void {
  p.client.pause();
  p.upstream.pause();
}

export class CutProxy {
  private readonly pairs = new Set<Pair>();
  private refusing = false;
  /** pause(): current and new connections hold their bytes until resume() */
  private paused = false;
  /** connections accepted so far */
  accepted = 0;
  private lagRule: { pattern: RegExp; ms: number } | undefined;

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static async start(targetPort: number): Promise<CutProxy> {
    let proxy!: CutProxy;
    const server = createServer((client) => proxy.onConnection(client, targetPort));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    proxy = new CutProxy(server, (server.address() as { port: number }).port);
    return proxy;
  }

  private onConnection(client: Socket, targetPort: number): void {
    this.accepted++;
    if (this.refusing) return void client.destroy();
    const upstream = connect(targetPort, '127.0.0.1');
    const pair: Pair = { client, upstream, silent: undefined, sent: '', lagMs: 0 };
    this.pairs.add(pair);
    if (this.paused) hold(pair);
    client.on('data', (d: Buffer) => {
      if (pair.silent !== 'both') upstream.write(d);
      this.watch(pair, d);
    });
    upstream.on('data', (d: Buffer) => {
      if (pair.silent !== undefined) return;
      // one delay for every chunk of a connection: the timers fire in the order they were set
      if (pair.lagMs > 0) setTimeout(() => pair.silent === undefined && !client.destroyed && client.write(d), pair.lagMs);
      else client.write(d);
    });
    const end = () => {
      this.pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    for (const s of [client, upstream]) {
      s.on('error', end);
      s.on('close', end);
    }
  }

  /** Looks for the lag pattern in what the client sent (the first 64 KiB of it). */
  private watch(pair: Pair, d: Buffer): void {
    if (this.lagRule === undefined || pair.lagMs > 0 || pair.sent.length > 65_536) return;
    pair.sent += d.toString('latin1');
    if (this.lagRule.pattern.test(pair.sent)) pair.lagMs = this.lagRule.ms;
  }

  /**
   * From now on, a connection whose client sent bytes matching `pattern` (before or after this
   * call) gets what the server sends `ms` later, in order; nothing is lost.
   */
  lag(pattern: RegExp, ms: number): void {
    this.lagRule = { pattern, ms };
    for (const p of this.pairs) {
      if (pattern.test(p.sent)) p.lagMs = ms;
    }
  }

  /** Resets every connection through the proxy. */
  cut(): void {
    for (const p of [...this.pairs]) {
      p.client.resetAndDestroy();
      p.upstream.resetAndDestroy();
    }
  }

  /** While on, new connections are closed as soon as they are accepted. */
  refuse(on: boolean): void {
    this.refusing = on;
  }

  /** Every current connection stops forwarding (both ways, or only server -> client) without closing. */
  silence(direction: Direction = 'both'): void {
    for (const p of this.pairs) p.silent = direction;
  }

  /**
   * Every current connection, and every new one until resume(), stops reading both ways without
   * closing: nothing is lost, both ends' writes queue up (then block) as behind a dead link.
   */
  pause(): void {
    this.paused = true;
    for (const p of this.pairs) hold(p);
  }

  /** Ends pause() and silence(): held bytes flow again; bytes dropped while silent stay lost. */
  resume(): void {
    this.paused = false;
    for (const p of this.pairs) {
      p.silent = undefined;
      p.client.resume();
      p.upstream.resume();
    }
  }

  get connections(): number {
    return this.pairs.size;
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise((r) => this.server.close(r));
  }
}
