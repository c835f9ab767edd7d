// What the harness watches while the run goes on: each node's /healthz against what the harness
// knows (Redis down, paused, up), the probers' long-lived connections against a fresh one, and the
// time series the report plots and the flatness rule judges (RSS, heap + external, fds, Redis
// used_memory, the harness's own CPU).

/** Seconds. The nodes run --broker-probe 1000 --broker-timeout 1000: a paused Redis is noticed within 2 s. */
export const HEALTH_DOWN_GRACE_S = 4;
/** After Redis (or the node) is back, /healthz must be green again within this. */
export const HEALTH_UP_GRACE_S = 20;
/** A prober unanswered this long while everything is up (for at least as long) is stuck. */
export const STUCK_S = 10;
export const HEALTHY_FOR_S = 15;

async function getJson(url, timeoutMs) {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), timeoutMs);
  try {
    const res = await fetch(url, { signal: ac.signal });
    const text = await res.text();
    let body;
    try {
      body = JSON.parse(text);
    } catch {
      body = text;
    }
    return { status: res.status, body };
  } catch {
    return undefined;
  } finally {
    clearTimeout(timer);
  }
}

/** Sum of every sample of `name` in a Prometheus text page. */
function metric(text, name) {
  let sum = 0;
  let found = false;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (rest[0] !== ' ' && rest[0] !== '{') continue;
    sum += Number(line.slice(line.lastIndexOf(' ') + 1));
    found = true;
  }
  return found ? sum : undefined;
}

export class Monitor {
  /** name -> [{t, v}] */
  series = new Map();
  counts = { healthzSamples: 0, healthzChecked: 0, proberChecks: 0, freshChecks: 0, redisBoundChecks: 0 };
  #reported = new Set();
  #unreachableSince = new Map();
  #freshRunning = new Set();
  #cpu0 = process.cpuUsage();
  #wall0 = performance.now();

  constructor({ redis, nodes, memoryNode, faults, workload, now, violate, limits }) {
    Object.assign(this, { redis, nodes, memoryNode, faults, workload, now, violate, limits });
  }

  /** Every process whose memory is sampled: the cluster's nodes and the memory-broker node. */
  #sampled() {
    return Object.entries({ ...this.nodes, C: this.memoryNode });
  }

  record(name, v) {
    if (v === undefined || !Number.isFinite(v)) return;
    let s = this.series.get(name);
    if (s === undefined) this.series.set(name, (s = []));
    s.push({ t: this.now(), v });
  }

  #once(key, kind, detail) {
    if (this.#reported.has(key)) return;
    this.#reported.add(key);
    this.violate(kind, this.now(), detail);
  }

  /** Every second: memory, fds, CPU. */
  async sample() {
    for (const [name, node] of this.#sampled()) {
      const p = node.procSample();
      if (p !== undefined) {
        this.record(`${name}.rss`, p.rss);
        this.record(`${name}.fds`, p.fds);
      }
    }
    const mem = await this.redis.memory();
    this.record('redis.used_memory', mem?.used);
    this.record('redis.dataset', mem?.dataset);
    const cpu = process.cpuUsage(this.#cpu0);
    const wall = performance.now() - this.#wall0;
    this.record('harness.cpu', (cpu.user + cpu.system) / 1000 / wall);
    this.#cpu0 = process.cpuUsage();
    this.#wall0 = performance.now();
    this.record('harness.rss', process.memoryUsage().rss);
  }

  /**
   * Every 2 s from /metrics: the main thread's heap + external memory, and the C allocator's
   * memory of the whole process (in use, and free but kept).
   */
  async sampleMetrics() {
    for (const [name, node] of this.#sampled()) {
      if (this.faults.state.nodes[name]?.up === false) continue;
      const r = await getJson(`${node.http}/metrics`, 2000);
      if (r?.status !== 200 || typeof r.body !== 'string') continue;
      const heap = metric(r.body, 'nodejs_heap_size_used_bytes');
      const ext = metric(r.body, 'nodejs_external_memory_bytes');
      if (heap !== undefined && ext !== undefined) this.record(`${name}.heap_external`, heap + ext);
      const inUse = metric(r.body, 'ringcast_allocator_bytes{state="in_use"}');
      const mapped = metric(r.body, 'ringcast_allocator_bytes{state="mapped"}');
      if (inUse !== undefined && mapped !== undefined) this.record(`${name}.malloc_in_use`, inUse + mapped);
      this.record(`${name}.malloc_free`, metric(r.body, 'ringcast_allocator_bytes{state="free"}'));
      const slow = metric(r.body, 'ringcast_slow_consumer_closes_total');
      if (slow !== undefined) this.record(`${name}.slow_closes`, slow);
    }
  }

  /**
   * Every 5 s: Redis holds what the nodes' bounds allow and no more (the same bounds in Redis as in
   * the process, DESIGN.md): at most --max-topics topic records, and a data set within
   * 1.5 x --max-history-bytes + 1 KiB per topic + 8 MiB (stream encoding, meta hashes, presence,
   * idempotency keys). Judged after 20 s, so the first topics' TTLs have started.
   */
  async checkRedisBounds() {
    if (this.now() < 20 || !this.redis.running || this.redis.paused) return;
    const records = await this.redis.countKeys('soak:{*}:meta');
    const mem = await this.redis.memory();
    if (records === undefined || mem === undefined) return;
    this.record('redis.topic_records', records);
    this.counts.redisBoundChecks++;
    const l = this.limits;
    const maxRecords = Math.ceil(l.maxTopics * 1.05) + 50;
    if (records > maxRecords)
      this.#once('records', 'redis_over_bound', { what: 'topic records', records, bound: maxRecords, maxTopics: l.maxTopics });
    const maxDataset = 1.5 * l.maxHistoryBytes + 1024 * l.maxTopics + 8 * 1024 * 1024;
    if (mem.dataset > maxDataset)
      this.#once('dataset', 'redis_over_bound', {
        what: 'used_memory_dataset',
        bytes: mem.dataset,
        bound: maxDataset,
        maxHistoryBytes: l.maxHistoryBytes,
        usedMemory: mem.used,
        records,
      });
  }

  /** Every 500 ms: /healthz of each node against what is true. */
  async checkHealth() {
    const now = this.now();
    const st = this.faults.state;
    const redisBad = !st.redis.up || st.redis.paused;
    const redisFor = now - st.redis.since;
    await Promise.all(
      Object.entries(this.nodes).map(async ([name, node]) => {
        const ns = st.nodes[name];
        if (!ns.up || now - ns.since < 3 || st.fdExhaust === name) {
          this.#unreachableSince.delete(name);
          return;
        }
        const r = await getJson(`${node.http}/healthz`, 1500);
        this.counts.healthzSamples++;
        const at = this.now();
        if (r === undefined) {
          const since = this.#unreachableSince.get(name) ?? at;
          this.#unreachableSince.set(name, since);
          if (at - since > 15 && this.faults.active === 0)
            this.#once(`unreach:${name}:${ns.since}`, 'node_unresponsive', {
              node: name,
              since: +since.toFixed(1),
              log: node.tail.slice(-5),
            });
          return;
        }
        this.#unreachableSince.delete(name);
        // the state may have changed while the request was out: judge only a stable state
        if (st.redis.since > now || st.nodes[name].since > now) return;
        if (redisBad && redisFor >= HEALTH_DOWN_GRACE_S) {
          this.counts.healthzChecked++;
          if (r.status === 200)
            this.#once(`green:${name}:${st.redis.since}`, 'healthz_green_while_redis_down', {
              node: name,
              redis: st.redis.paused ? 'paused' : 'down',
              forS: +redisFor.toFixed(1),
              body: r.body,
            });
        } else if (!redisBad && redisFor >= HEALTH_UP_GRACE_S && now - ns.since >= HEALTH_UP_GRACE_S) {
          this.counts.healthzChecked++;
          if (r.status !== 200)
            this.#once(`red:${name}:${st.redis.since}:${ns.since}`, 'healthz_red_while_up', {
              node: name,
              status: r.status,
              redisUpForS: +redisFor.toFixed(1),
              body: r.body,
            });
          const w = r.body?.workers;
          const lastCrash = this.faults.events.filter((e) => e.kind === 'worker-crash' && e.detail.node === name).at(-1);
          if (w !== undefined && w.running < w.configured && (lastCrash === undefined || now - lastCrash.t0 > HEALTH_UP_GRACE_S))
            this.#once(`workers:${name}:${ns.since}:${lastCrash?.t0}`, 'worker_not_replaced', { node: name, workers: w });
        }
      }),
    );
  }

  /**
   * Every second: a prober not answered for STUCK_S while everything has been up for
   * HEALTHY_FOR_S is compared with a fresh connection to the same node; if the fresh one is
   * served, the long-lived one is stuck (the app would have to reconnect to be served again).
   */
  checkProbers() {
    const now = this.now();
    const st = this.faults.state;
    if (this.faults.active > 0 || !st.redis.up || st.redis.paused) return;
    for (const p of this.workload.probers) {
      const ns = st.nodes[p.client.node];
      const healthySince = Math.max(st.redis.since, ns.since, this.faults.lastEnd);
      if (!ns.up || now - healthySince < HEALTHY_FOR_S) continue;
      this.counts.proberChecks++;
      if (now - p.lastOk < STUCK_S) continue;
      if (this.#freshRunning.has(p) || !p.client.connected) continue;
      this.#freshRunning.add(p);
      this.counts.freshChecks++;
      const codes = { ...p.codes };
      void this.workload.freshPublish(p.client.node, p.topic).then((fresh) => {
        this.#freshRunning.delete(p);
        if (fresh && this.now() - p.lastOk >= STUCK_S)
          this.#once(`stuck:${p.topic}:${healthySince}`, 'stuck_connection', {
            prober: p.client.name,
            node: p.client.node,
            lastAnsweredAt: +p.lastOk.toFixed(1),
            healthySince: +healthySince.toFixed(1),
            failuresSinceAnswered: p.failuresSinceOk,
            errorCodesSoFar: codes,
            freshConnectionServed: true,
          });
      });
    }
  }
}
