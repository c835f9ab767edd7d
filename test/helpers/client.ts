// A real `ws` client with a queue of parsed messages, for tests that read as sentences.
import WebSocket from 'ws';

export type Msg = Record<string, unknown> & { op: string };

export class Client {
  readonly ws: WebSocket;
  readonly raw: string[] = [];
  private readonly queue: Msg[] = [];
  private waiters: ((m: Msg) => void)[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  readonly opened: Promise<void>;

  constructor(url: string, options: WebSocket.ClientOptions = {}) {
    this.ws = new WebSocket(url, options);
    this.ws.on('message', (data: Buffer) => {
      const text = data.toString('utf8');
      this.raw.push(text);
      const msg = JSON.parse(text) as Msg;
      const w = this.waiters.shift();
      if (w) w(msg);
      else this.queue.push(msg);
    });
    this.closed = new Promise((resolve) => this.ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', () => resolve());
      this.ws.once('error', reject);
      this.ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    });
    this.ws.on('error', () => undefined);
  }

  static async open(url: string, options?: WebSocket.ClientOptions): Promise<Client> {
    const c = new Client(url, options);
    await c.opened;
    return c;
  }

  send(value: unknown): void {
    this.ws.send(typeof value === 'string' ? value : JSON.stringify(value));
  }

  /** The next message, or a rejection after `ms`. */
  next(ms = 2000): Promise<Msg> {
    const m = this.queue.shift();
    if (m) return Promise.resolve(m);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`no message within ${ms} ms`));
      }, ms);
      const waiter = (msg: Msg) => {
        clearTimeout(timer);
        resolve(msg);
      };
      this.waiters.push(waiter);
    });
  }

  /** Sends a request and returns the next message (its ack or err, when nothing else is due). */
  async request(value: Record<string, unknown>): Promise<Msg> {
    this.send(value);
    return this.next();
  }

  /** Resolves when no message arrives for `ms`; rejects with the message otherwise. */
  async silent(ms = 150): Promise<void> {
    if (this.queue.length) throw new Error(`unexpected message ${JSON.stringify(this.queue[0])}`);
    await new Promise((r) => setTimeout(r, ms));
    if (this.queue.length) throw new Error(`unexpected message ${JSON.stringify(this.queue[0])}`);
  }

  close(): void {
    this.ws.terminate();
  }
}

/** Opens `n` clients on `url` (sequentially in small batches to stay gentle). */
export async function openClients(url: string, n: number): Promise<Client[]> {
  const out: Client[] = [];
  for (let i = 0; i < n; i += 50) {
    const batch = await Promise.all(Array.from({ length: Math.min(50, n - i) }, () => Client.open(url)));
    out.push(...batch);
  }
  return out;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `cond` every 10 ms until it holds or `ms` passes. */
export async function until(cond: () => boolean, ms = 2000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(10);
  }
}
