// A TCP proxy in front of a node, so the schedule can cut client links the way a network does
// (both ends see a reset) while the node stays up. Upstream is connected per client connection;
// when the node is down the client's connection is reset, as a refused connect would be.
import net from 'node:net';

export class LinkProxy {
  #pairs = new Set();
  /** connections cut by cut(), over the run */
  cuts = 0;

  constructor(server, port, targetPort) {
    this.server = server;
    this.port = port;
    this.targetPort = targetPort;
  }

  static async start(targetPort) {
    let proxy;
    const server = net.createServer((client) => proxy.#onConnection(client));
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
    proxy = new LinkProxy(server, server.address().port, targetPort);
    return proxy;
  }

  #onConnection(client) {
    const upstream = net.connect(this.targetPort, '127.0.0.1');
    const pair = { client, upstream };
    this.#pairs.add(pair);
    client.pipe(upstream);
    upstream.pipe(client);
    const end = () => {
      this.#pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    for (const s of [client, upstream]) {
      s.on('error', end);
      s.on('close', end);
    }
  }

  /** Resets every link through the proxy; returns how many. */
  cut() {
    const n = this.#pairs.size;
    for (const p of [...this.#pairs]) {
      p.client.resetAndDestroy();
      p.upstream.resetAndDestroy();
    }
    this.cuts += n;
    return n;
  }

  get connections() {
    return this.#pairs.size;
  }

  async close() {
    this.cut();
    await new Promise((r) => this.server.close(r));
  }
}
