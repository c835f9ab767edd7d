// A TCP proxy on 127.0.0.1:0 that a test controls, to break the link between a client and the
// server in the ways networks do: cut every connection (both ends see a reset or FIN), refuse new
// ones for a while, go silent (stop forwarding without closing: a dead NAT entry; the bytes are
// dropped), or pause (a pulled cable plugged back in before TCP gives up: the bytes wait in the
// kernel and arrive, in order, on resume()). Between a node and Redis, pause/resume keeps the
// RESP stream intact; silence corrupts it, so a silenced link is only good for being cut.
import { createServer, connect, type Server, type Socket } from 'node:net';

type Direction = 'both' | 'down';

interface Pair {
  client: Socket;
  upstream: Socket;
  /** data in this direction is dropped silently */
  silent: Direction | undefined;
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
    const pair: Pair = { client, upstream, silent: undefined };
    this.pairs.add(pair);
    if (this.paused) hold(pair);
    client.on('data', (d) => {
      if (pair.silent !== 'both') upstream.write(d);
    });
    upstream.on('data', (d) => {
      if (pair.silent === undefined) client.write(d);
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
