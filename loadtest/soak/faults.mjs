// The fault schedule: one seeded list of what breaks, in what order, with what parameters, and the
// code that breaks it. The first cycle runs every kind once (FAULT_KINDS, in that order); longer
// runs repeat the kinds in seeded orders until a quiet tail (restarts of nodes and workers only
// until 60 % of the run). Execution is sequential: a fault that took longer pushes the
// next one later; the decisions (kinds, targets, durations) are the seed's.
import net from 'node:net';

/**
 * The first cycle's order: node restarts first (a node's memory is judged on the stretch after
 * its last restart), then Redis losing its data, then the faults that reset nothing, ending with
 * a Redis outage before the quiet tail, after which every long-lived connection must be served.
 */
export const FAULT_KINDS = [
  'node-drain',
  'node-kill',
  'redis-restart-empty',
  'redis-kill-snapshot',
  'worker-crash',
  'fd-exhaust',
  'link-cut',
  'redis-kill-aof',
  'redis-pause',
];

/**
 * What each fault resets, for the flatness rule: a series is judged after its last reset. A
 * replaced worker or a burst of connections is not a reset: memory must come back to its level.
 */
export const RESETS = {
  redis: ['redis-restart-empty', 'redis-kill-snapshot'],
  node: ['node-drain', 'node-kill'],
};

/** Faults that start a process or a thread anew. */
const RESTARTS = ['node-drain', 'node-kill', 'worker-crash'];

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Faults of a run of `durationS` seconds: [{ kind, at, params }] with `at` the planned start (s). */
export function buildSchedule(rng, durationS, nodeNames, fdNode) {
  const warm = Math.min(60, Math.max(8, durationS * 0.1));
  const quietTail = Math.max(25, durationS * 0.15);
  const firstEnd = Math.min(durationS - quietTail, warm + Math.max(45, durationS * 0.3));
  const out = [];
  const params = (kind, first) => {
    switch (kind) {
      case 'redis-kill-snapshot':
        return { writesAfterSaveMs: rng.int(2000, 4000), downMs: rng.int(1000, 3000), cutLinks: rng.chance(0.3) };
      case 'redis-restart-empty':
        return { downMs: rng.int(1000, 3000), cutLinks: rng.chance(0.3) };
      case 'redis-kill-aof':
        // the first one always cuts client links while Redis is down: every client then
        // resubscribes into a refusal, the path a dead room hides in
        return { downMs: rng.int(2500, 4000), cutLinks: first || rng.chance(0.5) };
      case 'redis-pause':
        return { pauseMs: rng.int(4000, 7000) };
      case 'worker-crash':
        return { node: rng.pick(nodeNames.filter((n) => n !== fdNode).concat(first ? [] : [fdNode])) };
      case 'fd-exhaust':
        return { node: fdNode, holdMs: rng.int(1500, 3000) };
      case 'link-cut':
        return { nodes: rng.chance(0.5) ? nodeNames : [rng.pick(nodeNames)] };
      case 'node-drain':
        return { node: rng.pick(nodeNames), downMs: rng.int(500, 2000) };
      case 'node-kill':
        return { node: undefined, downMs: rng.int(500, 2000) };
    }
  };
  const span = (firstEnd - warm) / FAULT_KINDS.length;
  let drained;
  FAULT_KINDS.forEach((kind, i) => {
    const p = params(kind, true);
    if (kind === 'node-drain') drained = p.node;
    // the other node is killed: each node loses its process once in the first cycle
    if (kind === 'node-kill') p.node = nodeNames.find((n) => n !== drained) ?? nodeNames[0];
    out.push({ kind, at: +(warm + i * span).toFixed(1), params: p });
  });
  let t = firstEnd;
  // a process's RSS climbs for minutes to its plateau after a restart or a worker replaced (V8
  // heaps, the allocator's arenas): past 60 % of a long run those faults stop, so every node's
  // memory is judged on at least the last 40 % while Redis faults, cut links and fd exhaustion go on
  const restartsEnd = Math.max(firstEnd, durationS * 0.6);
  for (;;) {
    const order = rng.sample(FAULT_KINDS, FAULT_KINDS.length);
    for (const kind of order) {
      t += rng.range(10, 40);
      if (t > durationS - quietTail) return out;
      if (RESTARTS.includes(kind) && t > restartsEnd) continue;
      const p = params(kind, false);
      if (kind === 'node-kill') p.node = rng.pick(nodeNames);
      out.push({ kind, at: +t.toFixed(1), params: p });
    }
  }
}

/**
 * Runs faults against the system; keeps `state`, what the harness knows is true (Redis up,
 * paused, each node up), which the invariants compare /healthz and the clients against.
 */
export class FaultRunner {
  /** [{ kind, t0, t1, detail }] for the report and the plots */
  events = [];
  active = 0;
  lastEnd = 0;

  constructor({ redis, nodes, proxies, workload, now, violate, log }) {
    Object.assign(this, { redis, nodes, proxies, workload, now, violate, log });
    const t = 0;
    this.state = {
      redis: { up: true, paused: false, since: t },
      nodes: Object.fromEntries(Object.keys(nodes).map((n) => [n, { up: true, since: t }])),
      fdExhaust: undefined,
    };
  }

  #redisState(up, paused = false) {
    this.state.redis = { up, paused, since: this.now() };
  }

  #nodeState(name, up) {
    this.state.nodes[name] = { up, since: this.now() };
  }

  async run(fault) {
    this.active++;
    const t0 = this.now();
    const ev = { kind: fault.kind, t0, t1: undefined, detail: { ...fault.params } };
    this.events.push(ev);
    this.log(`t=${t0.toFixed(1)}s fault ${fault.kind} ${JSON.stringify(fault.params)}`);
    try {
      Object.assign(ev.detail, (await this.#do(fault.kind, fault.params)) ?? {});
    } catch (err) {
      ev.detail.error = String(err?.stack ?? err);
      this.violate('fault_failed', this.now(), { kind: fault.kind, error: String(err?.message ?? err) });
    } finally {
      ev.t1 = this.now();
      this.log(`t=${ev.t1.toFixed(1)}s fault ${fault.kind} done in ${(ev.t1 - t0).toFixed(1)} s ${JSON.stringify(ev.detail)}`);
      this.lastEnd = ev.t1;
      this.active--;
    }
  }

  async #cutLinks(names) {
    let n = 0;
    for (const name of names) n += this.proxies[name].cut();
    return n;
  }

  async #do(kind, p) {
    const r = this.redis;
    switch (kind) {
      case 'redis-kill-aof': {
        this.#redisState(false);
        await r.kill();
        await sleep(Math.min(1000, p.downMs / 2));
        const cut = p.cutLinks ? await this.#cutLinks(Object.keys(this.nodes)) : 0;
        await sleep(p.downMs - Math.min(1000, p.downMs / 2));
        await r.restartWithAof();
        this.#redisState(true);
        return { linksCut: cut };
      }
      case 'redis-kill-snapshot': {
        await r.command(['SAVE'], 20_000);
        await sleep(p.writesAfterSaveMs);
        this.#redisState(false);
        await r.kill();
        const cut = p.cutLinks ? await this.#cutLinks(Object.keys(this.nodes)) : 0;
        await sleep(p.downMs);
        await r.restartFromSnapshot();
        this.#redisState(true);
        return { linksCut: cut };
      }
      case 'redis-restart-empty': {
        this.#redisState(false);
        await r.kill();
        const cut = p.cutLinks ? await this.#cutLinks(Object.keys(this.nodes)) : 0;
        await sleep(p.downMs);
        await r.restartEmpty();
        this.#redisState(true);
        return { linksCut: cut };
      }
      case 'redis-pause': {
        this.#redisState(true, true);
        r.pause();
        await sleep(p.pauseMs);
        r.resume();
        this.#redisState(true);
        return undefined;
      }
      case 'worker-crash': {
        this.nodes[p.node].signal('SIGUSR2', false);
        return undefined;
      }
      case 'link-cut':
        return { linksCut: await this.#cutLinks(p.nodes) };
      case 'node-drain': {
        const node = this.nodes[p.node];
        this.#nodeState(p.node, false);
        const t0 = this.now();
        const exit = await node.drain();
        const drainS = +(this.now() - t0).toFixed(1);
        if (exit?.code !== 0) this.violate('drain_failed', this.now(), { node: p.node, exit, log: node.tail.slice(-5) });
        await sleep(p.downMs);
        const t = this.now();
        await node.start();
        this.#nodeState(p.node, true);
        return { exitCode: exit?.code, drainS, startS: +(this.now() - t).toFixed(1) };
      }
      case 'node-kill': {
        const node = this.nodes[p.node];
        this.#nodeState(p.node, false);
        await node.kill();
        await sleep(p.downMs);
        const t = this.now();
        await node.start();
        this.#nodeState(p.node, true);
        return { startS: +(this.now() - t).toFixed(1) };
      }
      case 'fd-exhaust':
        return this.#exhaustFds(p.node, p.holdMs);
    }
    throw new Error(`unknown fault ${kind}`);
  }

  /**
   * Opens WebSocket upgrades to `name` until the node stops accepting them (its RLIMIT_NOFILE is
   * low), holds them, releases them; the node must then serve a fresh connection again.
   */
  async #exhaustFds(name, holdMs) {
    const node = this.nodes[name];
    this.state.fdExhaust = name;
    const socks = [];
    let opened = 0;
    let refused = 0;
    const cap = (node.nofile ?? 4096) + 512;
    try {
      while (opened + refused < cap) {
        const batch = await Promise.all(Array.from({ length: 64 }, () => upgrade(node.port, socks)));
        const bad = batch.filter((ok) => !ok).length;
        opened += batch.length - bad;
        refused += bad;
        if (bad >= 16) break;
      }
      await sleep(holdMs);
    } finally {
      for (const s of socks) s.destroy();
      this.state.fdExhaust = undefined;
    }
    // afterwards it must serve again: a fresh client publishes within 30 s
    const until = this.now() + 30;
    let served = false;
    while (!served && this.now() < until) {
      served = await this.workload.freshPublish(name, `fd.${name}`);
      if (!served) await sleep(1000);
    }
    if (!served) this.violate('fd_no_recovery', this.now(), { node: name, opened, refused, log: node.tail.slice(-5) });
    return { opened, refused, servedAfter: served };
  }
}

/** One raw WebSocket upgrade held open; resolves true on 101 within 3 s. */
function upgrade(port, keep) {
  return new Promise((resolve) => {
    const s = net.connect({ port, host: '127.0.0.1' });
    keep.push(s);
    let head = '';
    const timer = setTimeout(() => resolve(false), 3000);
    s.once('connect', () =>
      s.write(
        'GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
          'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
      ),
    );
    s.on('data', (d) => {
      head += d;
      if (head.includes('\r\n')) {
        clearTimeout(timer);
        resolve(head.startsWith('HTTP/1.1 101'));
      }
    });
    s.on('error', () => {
      clearTimeout(timer);
      resolve(false);
    });
    s.on('close', () => {
      clearTimeout(timer);
      resolve(false);
    });
  });
}
