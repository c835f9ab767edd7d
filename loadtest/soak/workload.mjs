// What the users do, decided by the seeded generator one tick (100 ms) at a time: rooms open and
// close (thousands of topic names over a long run), members publish over WebSocket with keys and
// through POST /publish, fresh names are published to and subscribed to once (the churn that
// filled Redis and the in-process store), probers publish without pause on long-lived
// connections, slow consumers stop reading, and clients drop their own links. Every loop is
// bounded in count (requests in flight) and in time (each request has a timeout).
import { WebSocket } from 'ws';
import { httpPublish, payload, SoakClient } from './clients.mjs';

export const TICK_MS = 100;

/** The workload's shape for --clients N and --rate R (R scales every publish rate). */
export function workloadShape(clients, rate) {
  return {
    clients,
    /** rooms that live the whole run, and rooms that open and close */
    lobbies: 6,
    lobbyMembers: 6,
    rooms: Math.max(4, Math.round(clients / 8)),
    roomMembers: [3, 7],
    roomLifeS: [6, 20],
    /** publishes per second per room, and the share sent through POST /publish */
    roomRate: 1.5 * rate,
    httpShare: 0.3,
    roomPayload: [40, 600],
    /** fresh topics published to once per second, with this payload */
    churnRate: 30 * rate,
    churnPayload: 4096,
    /** plain subs to fresh names per second (each unsubscribed a moment later) */
    ghostRate: 5 * rate,
    /** fresh topics per second that a member holds while big messages arrive, then leaves */
    bigRate: 4 * rate,
    bigMessages: 4,
    bigPayload: 128 * 1024,
    /** per node: publishers on long-lived connections, their rate and payload */
    probers: 2,
    proberRate: 25,
    proberPayload: 4096,
    proberWindow: 8,
    /** fresh topics per second published to node C (memory broker), once each, with this payload */
    memoryChurnRate: 8 * rate,
    memoryChurnPayload: 128 * 1024,
    /** firehose publishes per second (slow consumers listen to it) and their size */
    fireRate: 4 * rate,
    firePayload: 32 * 1024,
    slowConsumers: 6,
    /** links each client drops by itself, per client per minute */
    selfDropPerMin: 0.5,
    /** requests in flight the harness allows itself, all kinds together */
    maxInFlight: 600,
  };
}

export class Workload {
  clients = [];
  rooms = [];
  probers = [];
  slow = [];
  nextRoom = 1;
  nextChurn = 1;
  inFlight = 0;
  stopping = false;
  counts = {
    roomsOpened: 0,
    roomsClosed: 0,
    topicsUsed: 0,
    churnPublishes: 0,
    churnFailed: 0,
    memoryChurn: 0,
    ghostSubs: 0,
    bigTopics: 0,
    fireSent: 0,
    proberOk: 0,
    proberFailed: 0,
    selfDrops: 0,
    slowStarted: 0,
    slowClosedByServer: 0,
    skippedBusy: 0,
  };

  /**
   * @param {{ rng: import('./rng.mjs').Rng, ledger: import('./ledger.mjs').Ledger, shape: ReturnType<typeof workloadShape>,
   *   nodes: Record<string, import('./node.mjs').SoakNode>, proxies: Record<string, import('./proxy.mjs').LinkProxy>,
   *   now: () => number }} opts
   */
  constructor(opts) {
    Object.assign(this, opts);
    this.nodeNames = Object.keys(opts.nodes);
  }

  /** Starts every client and waits until all are connected (or the deadline). */
  async connect(deadlineMs = 60_000) {
    const rng = this.rng.fork('clients');
    for (let i = 0; i < this.shape.clients; i++) {
      const node = this.nodeNames[i % this.nodeNames.length];
      const viaProxy = rng.chance(1 / 3);
      const url = viaProxy ? `ws://127.0.0.1:${this.proxies[node].port}/ws` : this.nodes[node].url;
      this.clients.push(new SoakClient({ name: `c${i}`, node, url, viaProxy, ledger: this.ledger }));
    }
    for (const node of this.nodeNames) {
      for (let i = 0; i < this.shape.probers; i++) {
        const c = new SoakClient({ name: `probe-${node}-${i}`, node, url: this.nodes[node].url, viaProxy: false, ledger: this.ledger });
        this.probers.push({ client: c, topic: `probe.${node}.${i}`, lastOk: 0, inFlight: 0, codes: {}, failuresSinceOk: 0, sent: 0 });
      }
    }
    const until = Date.now() + deadlineMs;
    while (Date.now() < until && ![...this.clients, ...this.probers.map((p) => p.client)].every((c) => c.connected))
      await new Promise((r) => setTimeout(r, 100));
  }

  /** Opens the first rooms: the run's clock starts here. */
  begin() {
    this.roomRng = this.rng.fork('rooms');
    this.pubRng = this.rng.fork('publishes');
    this.churnRng = this.rng.fork('churn');
    this.dropRng = this.rng.fork('drops');
    for (let i = 0; i < this.shape.lobbies; i++) this.#openRoom(`lobby.${i}`, this.shape.lobbyMembers, Infinity);
    for (let i = 0; i < this.shape.rooms; i++) this.#openRoom();
    // the firehose has two ordinary subscribers, checked like any room
    this.#openRoom('fire', 2, Infinity, true);
  }

  #openRoom(name, members, lifeS, quiet = false) {
    const rng = this.roomRng;
    const topic = name ?? `room.${this.nextRoom++}`;
    const k = members ?? rng.int(...this.shape.roomMembers);
    const who = rng.sample(this.clients, k);
    const room = { topic, members: who, closesAt: this.now() + (lifeS ?? rng.range(...this.shape.roomLifeS)), quiet };
    for (const c of who) c.subscribe(topic, { presence: rng.chance(0.5) });
    this.rooms.push(room);
    this.counts.roomsOpened++;
    this.counts.topicsUsed++;
  }

  #closeRoom(room) {
    for (const c of room.members) void c.unsubscribe(room.topic);
    this.counts.roomsClosed++;
  }

  /** One tick of decisions; called every TICK_MS by the runner. */
  tick() {
    // after the run's end only the probers go on, until the last check of them is done
    if (this.stopping) {
      for (const p of this.probers) this.#probe(p);
      return;
    }
    const now = this.now();
    const s = this.shape;
    const dt = TICK_MS / 1000;
    // rooms that end are replaced at once: the number of rooms stays, their names move on
    const ending = this.rooms.filter((r) => r.closesAt <= now);
    if (ending.length > 0) {
      this.rooms = this.rooms.filter((r) => r.closesAt > now);
      for (const room of ending) this.#closeRoom(room);
      for (let i = 0; i < ending.length; i++) this.#openRoom();
    }
    for (const room of this.rooms) {
      if (room.quiet || !this.pubRng.chance(s.roomRate * dt)) continue;
      this.#roomPublish(room);
    }
    for (let n = this.#count(this.churnRng, s.churnRate * dt); n > 0; n--) this.#churnPublish();
    for (let n = this.#count(this.churnRng, s.ghostRate * dt); n > 0; n--) this.#ghost();
    for (let n = this.#count(this.churnRng, s.bigRate * dt); n > 0; n--) this.#bigTopic();
    for (let n = this.#count(this.churnRng, s.fireRate * dt); n > 0; n--) this.#fire();
    for (let n = this.#count(this.churnRng, s.memoryChurnRate * dt); n > 0; n--) this.#memoryChurn();
    for (const c of this.clients) if (this.dropRng.chance((s.selfDropPerMin / 60) * dt) && c.dropLink()) this.counts.selfDrops++;
    for (const p of this.probers) this.#probe(p);
  }

  /** How many of an event with mean `mean` per tick happen this tick (whole part, then a draw). */
  #count(rng, mean) {
    const whole = Math.floor(mean);
    return whole + (rng.chance(mean - whole) ? 1 : 0);
  }

  #admit() {
    if (this.inFlight >= this.shape.maxInFlight) {
      this.counts.skippedBusy++;
      return false;
    }
    this.inFlight++;
    return true;
  }

  #roomPublish(room) {
    const rng = this.pubRng;
    const size = rng.int(...this.shape.roomPayload);
    const viaHttp = rng.chance(this.shape.httpShare);
    const node = rng.pick(this.nodeNames);
    const from = rng.pick(room.members);
    if (!this.#admit()) return;
    if (!viaHttp) {
      void from.publish(room.topic, size).finally(() => this.inFlight--);
      return;
    }
    const pub = this.ledger.publishing(room.topic, 'http', node);
    void httpPublish(this.nodes[node].http, room.topic, payload(pub.id, size), `h${pub.id}`)
      .then((ack) => {
        if (ack?.seq !== undefined) this.ledger.acked(pub, ack.seq, ack.duplicate === true);
        else this.ledger.failed(pub);
      })
      .finally(() => this.inFlight--);
  }

  #churnPublish() {
    const node = this.churnRng.pick(this.nodeNames);
    if (!this.#admit()) return;
    const n = this.nextChurn++;
    this.counts.topicsUsed++;
    void httpPublish(this.nodes[node].http, `churn.${n}`, payload(0, this.shape.churnPayload), `c${n}`)
      .then((ack) => {
        if (ack?.seq !== undefined) this.counts.churnPublishes++;
        else this.counts.churnFailed++;
      })
      .finally(() => this.inFlight--);
  }

  /** A fresh topic on node C, published to once: C's store must drop old ones and free them. */
  #memoryChurn() {
    if (!this.#admit()) return;
    const n = this.nextChurn++;
    this.counts.topicsUsed++;
    this.counts.memoryChurn++;
    void httpPublish(this.memoryNode.http, `mem.${n}`, payload(0, this.shape.memoryChurnPayload), `m${n}`).finally(() => this.inFlight--);
  }

  /** A plain sub to a name nobody publishes to, gone a moment later: must leave nothing behind. */
  #ghost() {
    const c = this.churnRng.pick(this.clients);
    const topic = `ghost.${this.nextChurn++}`;
    this.counts.topicsUsed++;
    this.counts.ghostSubs++;
    if (c.subscribe(topic) === undefined) return;
    setTimeout(() => void c.unsubscribe(topic), this.churnRng.int(500, 3000));
  }

  /**
   * A member joins a fresh topic, a few big messages arrive, it leaves: the node follows the topic,
   * holds its history, then drops it, so what a dropped topic keeps shows up in the node's memory.
   */
  #bigTopic() {
    const rng = this.churnRng;
    const c = rng.pick(this.clients);
    const node = rng.pick(this.nodeNames);
    const topic = `big.${this.nextChurn++}`;
    this.counts.topicsUsed++;
    this.counts.bigTopics++;
    const rec = c.subscribe(topic);
    if (rec === undefined) return;
    const leaveAfter = rng.int(3000, 6000);
    void rec.handle.subscribed.then(
      async () => {
        for (let i = 0; i < this.shape.bigMessages; i++) {
          if (!this.#admit()) break;
          const pub = this.ledger.publishing(topic, 'http', node);
          const ack = await httpPublish(this.nodes[node].http, topic, payload(pub.id, this.shape.bigPayload), `b${pub.id}`);
          this.inFlight--;
          if (ack?.seq !== undefined) this.ledger.acked(pub, ack.seq, ack.duplicate === true);
          else this.ledger.failed(pub);
        }
        setTimeout(() => void c.unsubscribe(topic), leaveAfter);
      },
      () => undefined,
    );
  }

  #fire() {
    const node = this.churnRng.pick(this.nodeNames);
    if (!this.#admit()) return;
    const pub = this.ledger.publishing('fire', 'http', node);
    this.counts.fireSent++;
    void httpPublish(this.nodes[node].http, 'fire', payload(pub.id, this.shape.firePayload), `f${pub.id}`)
      .then((ack) => {
        if (ack?.seq !== undefined) this.ledger.acked(pub, ack.seq, ack.duplicate === true);
        else this.ledger.failed(pub);
      })
      .finally(() => this.inFlight--);
  }

  /**
   * A prober publishes on its long-lived connection whatever happens (outages included), at most
   * proberWindow at a time; `lastOk` is when it was last answered with an ack.
   */
  #probe(p) {
    const s = this.shape;
    const due = Math.max(0, Math.round(s.proberRate * (TICK_MS / 1000)));
    for (let i = 0; i < due && p.inFlight < s.proberWindow; i++) {
      p.inFlight++;
      p.sent++;
      p.client.sdk
        .publish(p.topic, payload(0, s.proberPayload))
        .then(
          () => {
            p.lastOk = this.now();
            p.failuresSinceOk = 0;
            this.counts.proberOk++;
          },
          (err) => {
            const code = err?.serverCode ?? err?.code ?? 'error';
            p.codes[code] = (p.codes[code] ?? 0) + 1;
            p.failuresSinceOk++;
            this.counts.proberFailed++;
          },
        )
        .finally(() => p.inFlight--);
    }
  }

  /**
   * A consumer that subscribes to the firehose and stops reading: the server must close it at
   * --max-outbound (checked when it reads again: closed, or still open). Bounded in number.
   */
  startSlowConsumer(holdMs) {
    if (this.slow.length >= this.shape.slowConsumers) return;
    const node = this.nodeNames[this.slow.length % this.nodeNames.length];
    const ws = new WebSocket(this.nodes[node].url);
    const rec = { node, ws, closed: false, code: undefined, startedAt: this.now() };
    this.slow.push(rec);
    this.counts.slowStarted++;
    ws.on('error', () => undefined);
    ws.on('close', (code) => {
      rec.closed = true;
      rec.code = code;
    });
    ws.on('open', () => {
      ws.send(JSON.stringify({ op: 'sub', topic: 'fire', id: 1 }));
      ws._socket.pause();
      setTimeout(() => {
        if (ws.readyState === WebSocket.CLOSED) return;
        ws._socket.resume();
        // after reading what was queued, a consumer the server gave up on sees the close
        setTimeout(() => {
          if (rec.closed) this.counts.slowClosedByServer++;
          ws.terminate();
        }, 5000);
      }, holdMs);
    });
  }

  /** A fresh connection to `node` publishes once: resolves true when served. */
  async freshPublish(node, topic) {
    const c = new SoakClient({ name: `fresh-${node}`, node, url: this.nodes[node].url, viaProxy: false, ledger: this.ledger });
    try {
      await c.sdk.publish(topic, payload(0, 16), { timeout: 5000 });
      return true;
    } catch {
      return false;
    } finally {
      await c.close();
    }
  }

  async close() {
    for (const s of this.slow) s.ws.terminate();
    await Promise.all([...this.clients, ...this.probers.map((p) => p.client)].map((c) => c.close()));
  }
}
