// The soak's users: SDK clients (ringcast/client, the built dist/ of this checkout) on either node,
// directly or through the node's link proxy, each able to drop its own link. Every subscription
// is recorded in the ledger with the SDK's own events, so the invariants judge what an app sees.
import { WebSocket } from 'ws';
import { RingcastClient } from '../../dist/server/client/index.js';

/** SDK options: reconnect soon (the dead-room bound must cover the longest backoff). */
export const CLIENT_OPTIONS = { minDelay: 100, maxDelay: 2000, pingInterval: 5000, requestTimeout: 8000, closeTimeout: 1000 };

export class SoakClient {
  /** @type {import('ws').WebSocket | undefined} the SDK's current socket */
  socket;
  /** @type {Map<string, object>} topic -> ledger subscription */
  subs = new Map();
  selfDrops = 0;
  /** the last frames received (truncated), the evidence a violation carries */
  #frames = [];

  /**
   * @param {{ name: string, node: string, url: string, viaProxy: boolean, ledger: import('./ledger.mjs').Ledger }} opts
   */
  constructor(opts) {
    this.name = opts.name;
    this.node = opts.node;
    this.url = opts.url;
    this.viaProxy = opts.viaProxy;
    this.ledger = opts.ledger;
    const self = this;
    // The SDK takes a WebSocket constructor; this one remembers the socket so the client can
    // drop its own link (a phone switching networks), which the SDK must survive.
    class TrackedSocket extends WebSocket {
      constructor(url) {
        super(url);
        self.socket = this;
        self.#frame(`-- open ${url}`);
        this.on('message', (d) => self.#frame(String(d).slice(0, 160)));
        this.on('close', (code) => self.#frame(`-- close ${code}`));
      }
    }
    this.sdk = new RingcastClient(this.url, { ...CLIENT_OPTIONS, WebSocket: TrackedSocket });
    // when the link last came up, and last went down (run seconds): the ledger's excuses
    this.tUp = undefined;
    this.tDown = undefined;
    this.sdk.on('state', (change) => {
      if (change.state === 'connected') this.tUp = this.ledger.now();
      else if (this.tUp !== undefined && (this.tDown === undefined || this.tDown < this.tUp)) this.tDown = this.ledger.now();
    });
  }

  #frame(text) {
    this.#frames.push(`${this.ledger.now().toFixed(3)} ${text}`);
    if (this.#frames.length > 40) this.#frames.shift();
  }

  /** Recent frames about `topic` (and connection events), oldest first. */
  framesAbout(topic) {
    const quoted = `"topic":${JSON.stringify(topic)}`;
    return this.#frames.filter((f) => f.includes(quoted) || f.includes(' -- '));
  }

  get connected() {
    return this.sdk.state === 'connected';
  }

  /** Subscribes `topic`; the ledger record follows the SDK's answer, recoveries and messages. */
  subscribe(topic, { presence = false } = {}) {
    if (this.subs.has(topic) || this.sdk.state === 'closed') return undefined;
    const rec = this.ledger.subscribing(this, topic);
    let handle;
    try {
      handle = this.sdk.subscribe(topic, (data, meta) => this.ledger.delivered(rec, data, meta, handle.epoch), {
        presence,
        onRecovery: (info) => this.ledger.recovery(rec, info),
      });
    } catch (err) {
      this.ledger.refused(rec, err?.code ?? String(err));
      return undefined;
    }
    rec.handle = handle;
    this.subs.set(topic, rec);
    handle.subscribed.then(
      (ack) => this.ledger.live(rec, ack.seq, ack.epoch),
      (err) => {
        // told: the app knows this subscription is not active (it may subscribe again)
        this.ledger.refused(rec, err?.serverCode ?? err?.code);
        if (this.subs.get(topic) === rec) this.subs.delete(topic);
      },
    );
    return rec;
  }

  async unsubscribe(topic) {
    const rec = this.subs.get(topic);
    if (rec === undefined) return;
    this.subs.delete(topic);
    if (rec.refused === undefined) this.ledger.ended(rec);
    await rec.handle.unsubscribe().catch(() => undefined);
  }

  /** A keyed publish over WebSocket; resolves true when acknowledged. */
  async publish(topic, size) {
    const pub = this.ledger.publishing(topic, 'ws', this.node);
    try {
      const r = await this.sdk.publish(topic, payload(pub.id, size), { key: `k${pub.id}` });
      this.ledger.acked(pub, r.seq, r.duplicate === true);
      return true;
    } catch {
      this.ledger.failed(pub);
      return false;
    }
  }

  /** Drops the TCP link without a closing handshake; the SDK must reconnect and recover. */
  dropLink() {
    if (this.socket === undefined || this.socket.readyState !== WebSocket.OPEN) return false;
    this.selfDrops++;
    this.socket.terminate();
    return true;
  }

  close() {
    return this.sdk.close();
  }
}

/** A message body: the publish id the ledger knows it by, the wall-clock send time for lag, padding. */
export function payload(id, size) {
  return { p: id, w: Date.now(), b: size > 0 ? 'x'.repeat(size) : '' };
}

/** POST /publish with an Idempotency-Key; resolves with the ack ({seq}) or undefined. */
export async function httpPublish(base, topic, data, key, timeoutMs = 8000) {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), timeoutMs);
  try {
    const res = await fetch(`${base}/publish`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'idempotency-key': key },
      body: JSON.stringify({ topic, data }),
      signal: ac.signal,
    });
    const body = await res.json().catch(() => undefined);
    return res.status === 200 ? body : undefined;
  } catch {
    return undefined;
  } finally {
    clearTimeout(timer);
  }
}
