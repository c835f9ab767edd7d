// What was promised and what arrived. Every acknowledged publish is an obligation toward every
// subscription that was live (its first ack seen) before the publish was sent and stayed until
// after it; a subscription meets it by delivering that message exactly once, in seq order, or is
// excused when the SDK told the app it may have missed messages (a recovery with recovered:false,
// which resync frames also produce) around that time. Checks run on every delivery (a seq that
// skips ahead, a message seen twice), once a second (dead rooms), when a subscription ends and at
// the end of the run (undelivered obligations).

/**
 * Seconds. A message may arrive this long after its ack before a subscription that ended is
 * blamed; longer while deliveries are slower (twice the slowest of the last LAG_WINDOW_S), so a
 * busy machine that delays every delivery is not taken for one that lost a message.
 */
export const END_GRACE_S = 5;
const LAG_WINDOW_S = 10;
/** A recovered:false this close before the send, or up to this long after the ack, excuses a miss. */
export const TELL_BEFORE_S = 2;
export const TELL_AFTER_S = 30;

export class Ledger {
  /** @type {Map<string, { pubs: Pub[], subs: Set<Sub> }>} */
  topics = new Map();
  /** @type {Map<number, Pub>} by publish id, while someone may still receive it */
  pubs = new Map();
  nextPubId = 1;
  nextSubId = 1;
  counts = {
    publishesSent: 0,
    publishesAcked: 0,
    publishesFailed: 0,
    publishesHttp: 0,
    duplicateAcks: 0,
    deliveries: 0,
    obligationsMet: 0,
    obligationsExcused: 0,
    subscriptions: 0,
    subscribeRefused: 0,
    recoveries: 0,
    gapNotices: 0,
  };
  /** per-second buckets: deliveries and lag samples (ms) */
  buckets = new Map();

  /**
   * @param {(kind: string, at: number, detail: object) => void} violate
   * @param {() => number} now seconds since start
   * @param {() => { kind: string, t0: number, t1?: number }[]} faults the faults run so far (t1 unset while one runs)
   */
  constructor(violate, now, faults = () => []) {
    this.violate = violate;
    this.now = now;
    this.faults = faults;
  }

  /**
   * A Redis fault holds up delivery of what was acknowledged shortly before it: the nodes read it
   * back once Redis is back. Such a message is owed END_GRACE_S after the fault's end, so at `now`
   * nothing acknowledged within END_GRACE_S before a Redis fault that has not been over that long
   * is judged yet (an ended subscription is never judged on it).
   */
  #beforeRedisFaults(until) {
    const now = this.now();
    for (const f of this.faults()) {
      if (!f.kind.startsWith('redis-')) continue;
      if (f.t1 === undefined || f.t1 + END_GRACE_S > now) until = Math.min(until, f.t0 - END_GRACE_S);
    }
    return until;
  }

  #topic(name) {
    let t = this.topics.get(name);
    if (t === undefined) this.topics.set(name, (t = { pubs: [], subs: new Set() }));
    return t;
  }

  /** A publish about to be sent: its id goes into the payload. */
  publishing(topic, via, node) {
    const pub = { id: this.nextPubId++, topic, via, node, tSend: this.now(), tAck: undefined, seq: undefined, acked: false };
    this.counts.publishesSent++;
    if (via === 'http') this.counts.publishesHttp++;
    this.pubs.set(pub.id, pub);
    return pub;
  }

  acked(pub, seq, duplicate) {
    pub.tAck = this.now();
    pub.seq = seq;
    if (duplicate) {
      // a retried keyed publish: the first send was sequenced; its delivery stands for both
      this.counts.duplicateAcks++;
    }
    pub.acked = true;
    this.counts.publishesAcked++;
    const t = this.#topic(pub.topic);
    t.pubs.push(pub);
  }

  failed(pub) {
    this.counts.publishesFailed++;
    pub.failed = true;
  }

  /** A subscribe() call; the returned record is filled by the workload's callbacks. */
  subscribing(client, topic) {
    const sub = {
      id: this.nextSubId++,
      client,
      topic,
      tCall: this.now(),
      tLive: undefined,
      tEnd: undefined,
      refused: undefined,
      /** times of recovered:false (gap notices) */
      tells: [],
      /** pub id -> deliveries */
      got: new Map(),
      lastSeq: undefined,
      lastEpoch: undefined,
      tLastDelivery: undefined,
      /** a notice came after the last delivery: the next seq may be anything */
      toldSinceLast: false,
      deadReported: false,
      /** obligations up to this ack time were checked already */
      settledUntil: -Infinity,
      handle: undefined,
    };
    this.counts.subscriptions++;
    this.#topic(topic).subs.add(sub);
    return sub;
  }

  /**
   * The first ack, seen through the `subscribed` promise: a microtask after the ack frame, so
   * messages that came in the same read may have been delivered already; they continue from it.
   */
  live(sub, seq, epoch) {
    sub.tLive = this.now();
    sub.ackSeq = seq;
    if (sub.firstSeq !== undefined && sub.firstSeq > seq + 1 && sub.firstEpoch === epoch && !sub.toldSinceLast)
      this.violate('gap', sub.tLive, {
        topic: sub.topic,
        sub: sub.id,
        client: sub.client.name,
        node: sub.client.node,
        ackSeq: seq,
        firstSeq: sub.firstSeq,
      });
    if (sub.lastSeq !== undefined) return;
    sub.lastSeq = seq;
    sub.lastEpoch = epoch;
  }

  refused(sub, code) {
    sub.refused = { at: this.now(), code };
    this.counts.subscribeRefused++;
    this.#topic(sub.topic).subs.delete(sub);
  }

  recovery(sub, info) {
    this.counts.recoveries++;
    sub.tBack = this.now();
    sub.lastRecovered = info.recovered;
    if (info.recovered) return;
    this.counts.gapNotices++;
    sub.tells.push(this.now());
    sub.toldSinceLast = true;
  }

  /** One message delivered by the SDK to `sub`. */
  delivered(sub, data, meta, epoch) {
    const now = this.now();
    this.counts.deliveries++;
    const id = data?.p;
    const bucket = this.#bucket(Math.floor(now));
    bucket.deliveries++;
    if (typeof data?.w === 'number') {
      const lag = Date.now() - data.w;
      bucket.lags.push(lag);
      bucket.maxLag = Math.max(bucket.maxLag, lag);
    }
    const prior = sub.got.get(id) ?? 0;
    if (prior > 0 && !sub.toldSinceLast)
      this.violate('duplicate', now, { topic: sub.topic, sub: sub.id, client: sub.client.name, pub: id, seq: meta.seq, times: prior + 1 });
    sub.got.set(id, prior + 1);
    const sameEpoch = epoch === sub.lastEpoch;
    if (sub.lastSeq !== undefined && sameEpoch && !sub.toldSinceLast) {
      if (meta.seq > sub.lastSeq + 1)
        this.violate('gap', now, {
          topic: sub.topic,
          sub: sub.id,
          client: sub.client.name,
          node: sub.client.node,
          viaProxy: sub.client.viaProxy,
          expectedSeq: sub.lastSeq + 1,
          gotSeq: meta.seq,
          pub: id,
          epoch,
          liveFrom: +sub.tLive.toFixed(3),
          ackSeq: sub.ackSeq,
          lastDeliveryAt: sub.tLastDelivery === undefined ? null : +sub.tLastDelivery.toFixed(3),
          notices: sub.tells.map((t) => +t.toFixed(2)),
          // the publishes that had the skipped seqs, when the harness saw their acks
          skipped: this.#withSeq(sub.topic, sub.lastSeq + 1, meta.seq - 1),
          frames: sub.client.framesAbout?.(sub.topic),
        });
      else if (meta.seq <= sub.lastSeq)
        this.violate('order', now, { topic: sub.topic, sub: sub.id, client: sub.client.name, lastSeq: sub.lastSeq, gotSeq: meta.seq });
    }
    if (sub.firstSeq === undefined) {
      sub.firstSeq = meta.seq;
      sub.firstEpoch = epoch;
    }
    sub.lastSeq = meta.seq;
    sub.lastEpoch = epoch;
    sub.tLastDelivery = now;
    sub.toldSinceLast = false;
  }

  #withSeq(topic, lo, hi) {
    const t = this.topics.get(topic);
    if (t === undefined) return [];
    return t.pubs
      .filter((p) => p.seq >= lo && p.seq <= hi)
      .slice(0, 5)
      .map((p) => ({ pub: p.id, seq: p.seq, via: p.via, node: p.node, sentAt: +p.tSend.toFixed(3), ackAt: +p.tAck.toFixed(3) }));
  }

  #bucket(sec) {
    let b = this.buckets.get(sec);
    if (b === undefined) this.buckets.set(sec, (b = { deliveries: 0, lags: [], maxLag: 0 }));
    return b;
  }

  /** How long a message may take now (seconds): END_GRACE_S, or twice the slowest recent delivery. */
  #grace() {
    const now = Math.floor(this.now());
    let worst = 0;
    for (let s = now - LAG_WINDOW_S; s <= now; s++) worst = Math.max(worst, this.buckets.get(s)?.maxLag ?? 0);
    return Math.max(END_GRACE_S, (2 * worst) / 1000);
  }

  /** The app unsubscribed: from now on nothing more is owed; check what was. */
  ended(sub) {
    sub.tEnd = this.now();
    this.#settle(sub, sub.tEnd - this.#grace());
    this.#topic(sub.topic).subs.delete(sub);
  }

  /** Obligations of `sub` for publishes acknowledged up to `until` (seconds). */
  #settle(sub, until) {
    if (sub.tLive === undefined) return;
    // a client whose link dropped and whose subscription was not renewed since had no chance to
    // recover what was published around the drop: judge only what came before it. A renewal's
    // replay is owed END_GRACE_S after the renewal, as a live message is after its ack: a
    // subscription that ends (or is judged) sooner after it is judged as one not renewed.
    const down = sub.client.tDown ?? -Infinity;
    const renewed = Math.max(sub.tLive, sub.tBack ?? -Infinity);
    if (down > renewed || (down > sub.tLive && this.now() - renewed < END_GRACE_S)) until = Math.min(until, down - END_GRACE_S);
    until = this.#beforeRedisFaults(until);
    const t = this.topics.get(sub.topic);
    if (t === undefined) return;
    let missed = 0;
    let first;
    for (const pub of t.pubs) {
      if (pub.tSend < sub.tLive || pub.tAck > until || pub.tAck <= sub.settledUntil) continue;
      if ((sub.got.get(pub.id) ?? 0) > 0) {
        this.counts.obligationsMet++;
        continue;
      }
      const told = sub.tells.some((at) => at >= pub.tSend - TELL_BEFORE_S && at <= pub.tAck + TELL_AFTER_S);
      if (told) {
        this.counts.obligationsExcused++;
        continue;
      }
      missed++;
      first ??= pub;
    }
    sub.settledUntil = Math.max(sub.settledUntil, until);
    if (missed > 0)
      this.violate('lost', first.tAck, {
        topic: sub.topic,
        sub: sub.id,
        client: sub.client.name,
        node: sub.client.node,
        viaProxy: sub.client.viaProxy,
        missed,
        firstPub: first.id,
        firstSeq: first.seq,
        firstAckAt: +first.tAck.toFixed(2),
        liveFrom: +sub.tLive.toFixed(2),
        lastDeliveryAt: sub.tLastDelivery === undefined ? null : +sub.tLastDelivery.toFixed(2),
        sdkActive: sub.handle?.active,
        clientState: sub.client.sdk?.state,
        // the client's last link drop and the subscription's last recovery, and when it ended
        linkDownAt: sub.client.tDown === undefined ? null : +sub.client.tDown.toFixed(2),
        recoveredAt: sub.tBack === undefined ? null : +sub.tBack.toFixed(2),
        recovered: sub.lastRecovered ?? null,
        endedAt: sub.tEnd === undefined ? null : +sub.tEnd.toFixed(2),
      });
  }

  /**
   * Once a second: a live subscription whose topic had at least 3 acknowledged publishes, all
   * sent after its last delivery and acknowledged over `silentS` ago, with no gap notice since,
   * is a dead room.
   */
  checkDeadRooms(silentS) {
    const now = this.now();
    for (const [name, t] of this.topics) {
      for (const sub of t.subs) {
        if (sub.tLive === undefined || sub.tEnd !== undefined || sub.deadReported) continue;
        // silence while the SDK says disconnected is no dead room: the app knows
        if (!sub.client.connected) continue;
        const since = Math.max(sub.tLive, sub.tLastDelivery ?? 0, sub.tells.at(-1) ?? 0, sub.client.tUp ?? 0);
        let owed = 0;
        let oldest;
        for (let i = t.pubs.length - 1; i >= 0; i--) {
          const pub = t.pubs[i];
          if (pub.tAck < since) break; // acks are appended in time order
          if (pub.tSend <= since || pub.tAck > now - silentS) continue;
          owed++;
          oldest = pub;
        }
        if (owed >= 3) {
          sub.deadReported = true;
          this.violate('dead_room', now, {
            topic: name,
            sub: sub.id,
            client: sub.client.name,
            node: sub.client.node,
            viaProxy: sub.client.viaProxy,
            silentSince: +since.toFixed(2),
            unreceived: owed,
            oldestAckAt: +oldest.tAck.toFixed(2),
            sdkActive: sub.handle?.active,
            clientState: sub.client.sdk?.state,
          });
        }
      }
    }
  }

  /** End of run: every obligation of every live subscription acknowledged by `until`. */
  settleAll(until) {
    for (const t of this.topics.values()) for (const sub of t.subs) if (sub.tEnd === undefined) this.#settle(sub, until);
  }

  /**
   * Every 10 s: settle what no notice can excuse any more, then forget publishes every live
   * subscription has settled and topics nobody holds (bounded memory over long runs).
   */
  prune() {
    const until = this.now() - TELL_AFTER_S - END_GRACE_S;
    for (const t of this.topics.values()) {
      let floor = Infinity;
      for (const sub of t.subs) {
        if (sub.tEnd === undefined) this.#settle(sub, until);
        floor = Math.min(floor, sub.tLive === undefined ? -Infinity : sub.settledUntil);
      }
      if (floor > -Infinity && floor < Infinity) {
        const keep = t.pubs.filter((p) => p.tAck > floor);
        for (const p of t.pubs) if (p.tAck <= floor) this.pubs.delete(p.id);
        t.pubs = keep;
      }
    }
    for (const [name, t] of this.topics) {
      if (t.subs.size === 0) {
        for (const p of t.pubs) this.pubs.delete(p.id);
        this.topics.delete(name);
      }
    }
    const old = this.now() - 120;
    for (const [id, p] of this.pubs) if (!p.acked && p.tSend < old) this.pubs.delete(id);
  }
}
