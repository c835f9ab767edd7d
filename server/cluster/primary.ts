// The main thread of `--workers N`: one acceptor hands each accepted connection to the worker
// with the fewest, one broker (memory or redis) numbers every publish for all workers, and the
// main thread owns the process: signals, the drain, replacing a worker that died, and the
// /metrics every worker answers with. docs/workers.md says why it is built this way.
// Longer than ~450 lines: the process's metrics (a third of it) are defined over the slots and
// the host it owns; the broker's side is host.ts, each worker's worker.ts.
import { closeSync, readFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { getSystemErrorName } from 'node:util';
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import { AggregatorRegistry, collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import { AllocatorTrim } from '../allocator.js';
import type { SharedBroker } from '../broker/types.js';
import type { Config } from '../config.js';
import { Metrics } from '../metrics.js';
import { Authenticator } from '../auth/tokens.js';
import { OpsServer } from '../ops/server.js';
import type { OpsSource } from '../ops/source.js';
import type { MetricJson as OpsMetricJson } from '../ops/series.js';
import { WorkerAsks } from '../ops/worker-asks.js';
import { deflateOptions } from '../protocol/deflate.js';
import { makeBroker, maxConnectionsGauge, TransportUnavailableError } from '../server.js';
import { loadAddon, type NativeAddon } from '../transport/native.js';
import { probeUring, type UringProbe } from '../transport/select.js';
import { BrokerHost } from './host.js';
import {
  CELL_LOAD,
  cellAdmission,
  cellConsumed,
  CELLS_PER_WORKER,
  HANDOFF_SLOTS,
  type ClusterView,
  type ToMain,
  type ToWorker,
  type WorkerData,
} from './messages.js';

/** A worker that dies sooner than this after starting is restarted after a growing pause. */
const STABLE_MS = 10_000;
const RESTART_MIN_MS = 100;
const RESTART_MAX_MS = 5_000;
/** How long /metrics waits for a worker's registry. */
const COLLECT_TIMEOUT_MS = 1_000;
/** Message bytes a worker may have waiting from the main thread, in --max-outbound units. */
const QUEUE_OUTBOUNDS = 16;
/** How often a shared broker's state is checked for the workers' /healthz. */
const VIEW_MS = 25;

interface Slot {
  index: number;
  worker: Worker | undefined;
  ready: boolean;
  handoff: Int32Array;
  nextSlot: number;
  startedAt: number;
  /** consecutive quick deaths, for the restart pause */
  quickDeaths: number;
  features: Record<string, unknown>;
  /** its ring's fd once ready (uring), -1 otherwise */
  ringFd: number;
  drained: boolean;
  /** its registry as it last answered /metrics: shown again while it cannot answer, counted on once it died */
  metrics: MetricJson[] | undefined;
}

/** A metric as prom-client's getMetricsAsJSON() gives it (the fields added up here). */
interface MetricJson {
  name: string;
  type: string;
  values: { value: number; labels: object; metricName?: string }[];
}

export class Primary {
  readonly metrics: Metrics;
  private readonly processRegistry = new Registry();
  private readonly restarts: Counter;
  /** gives the C allocator's free memory back (every thread's arena) */
  private readonly allocator: AllocatorTrim;
  private readonly host: BrokerHost;
  private readonly broker: SharedBroker;
  private readonly slots: Slot[] = [];
  private readonly cells: Int32Array;
  private readonly cellBuffer: SharedArrayBuffer;
  private readonly acceptor: Server;
  private readonly addon: NativeAddon;
  private readonly probe: UringProbe;
  private readonly log: Logger;
  private readonly transportName: 'uring' | 'ws';
  private draining = false;
  /** the drain closed the acceptor (after --drain-delay, during which workers answer 503) */
  private acceptorClosed = false;
  private drainPromise: Promise<void> | undefined;
  private restartCount = 0;
  private view: ClusterView;
  private viewJson = '';
  private viewTimer: NodeJS.Timeout | undefined;
  private collectId = 0;
  private readonly collecting = new Map<number, { left: Set<number>; done: () => void }>();
  /** the counters and histograms of every worker that died, added up: a counter of the server never goes down */
  private retired: MetricJson[] = [];
  /** settles the start: every worker ready, or one died before it was */
  private starting: { ready: () => void; failed: (err: Error) => void } | undefined;
  /** the last error a worker died of, for the start's failure */
  private lastError = '';
  private acceptErrors = 0;
  /** --ops: the page is served here, on the main thread, so it answers while a worker is stalled */
  private readonly ops: OpsServer | undefined;
  private readonly opsAsks = new WorkerAsks();
  private readonly startedAt = Date.now();
  address: { host: string; port: number } | undefined;
  opsAddress: { host: string; port: number } | undefined;

  constructor(
    private readonly config: Config,
    readonly workers: number,
    /** the process's logger: lines about one worker name it (`"worker":N`), the main thread's own say `"worker":"main"` */
    private readonly root: Logger,
  ) {
    const log = (this.log = root.child({ worker: 'main' }));
    const { addon, reason } = loadAddon();
    // the acceptor hands sockets over with the addon's dup(2), whatever the transport
    if (addon === undefined) throw new TransportUnavailableError(`--workers ${workers} needs the native addon: ${reason}`);
    this.addon = addon;
    this.probe = config.transport === 'ws' ? { ok: false, reason: '', features: '' } : probeUring();
    if (config.transport === 'uring' && !this.probe.ok) throw new TransportUnavailableError(this.probe.reason);
    this.transportName = this.probe.ok ? 'uring' : 'ws';
    if (config.transport === 'auto' && !this.probe.ok)
      log.warn({ event: 'transport_fallback', transport: 'ws', reason: this.probe.reason }, this.probe.reason);

    this.metrics = new Metrics(this.transportName, false);
    collectDefaultMetrics({ register: this.processRegistry, eventLoopMonitoringPrecision: 20 });
    maxConnectionsGauge(this.processRegistry, config.maxConnections);
    this.allocator = new AllocatorTrim(config.mallocTrim, this.processRegistry, log, addon);
    this.restarts = new Counter({
      name: 'ringcast_worker_restarts_total',
      help: 'Worker threads that died (a JavaScript error) and were replaced',
      registers: [this.processRegistry],
    });
    const self = this;
    new Gauge({
      name: 'ringcast_workers',
      help: 'Worker threads running (each with its own ring and connections)',
      registers: [this.processRegistry],
      collect() {
        this.set(self.slots.filter((s) => s.ready).length);
      },
    });
    new Gauge({
      name: 'ringcast_worker_connections',
      help: 'TCP connections each worker holds (the acceptor hands a new one to the worker with the fewest)',
      labelNames: ['worker'],
      registers: [this.processRegistry],
      collect() {
        for (const s of self.slots) this.set({ worker: String(s.index) }, Atomics.load(self.cells, CELL_LOAD + s.index));
      },
    });
    // the in-process broker's store is the server's, bounded by --max-topics and --max-history-bytes (the workers hold copies)
    this.broker = makeBroker(config, this.metrics, log, true);
    this.host = new BrokerHost(this.broker, root, deflateOptions(config), QUEUE_OUTBOUNDS * config.maxOutbound);
    new Gauge({
      name: 'ringcast_worker_queue_bytes',
      help: 'Message bytes the main thread has posted to each worker and it has not taken in yet',
      labelNames: ['worker'],
      registers: [this.processRegistry],
      collect() {
        for (const s of self.slots) this.set({ worker: String(s.index) }, self.host.queuedBytes(s.index));
      },
    });
    new Counter({
      name: 'ringcast_worker_queue_overflows_total',
      help: 'Messages not posted to a worker that was too far behind (it reads them back from the broker)',
      registers: [this.processRegistry],
      collect() {
        this.reset();
        this.inc(self.host.overflows);
      },
    });
    this.host.metricsText = () => this.collect();
    this.cellBuffer = new SharedArrayBuffer(4 * CELLS_PER_WORKER * workers);
    this.cells = new Int32Array(this.cellBuffer);
    this.view = this.currentView();
    this.acceptor = createServer({ pauseOnConnect: true }, (socket) => this.accepted(socket));
    this.acceptor.on('error', (err: NodeJS.ErrnoException) => this.acceptError(err));
    if (config.ops) this.ops = new OpsServer(config, this.opsSource(), log, Authenticator.fromConfig(config));
  }

  /** Starts the broker and every worker, then listens; resolves with the bound address. */
  async listen(): Promise<{ host: string; port: number }> {
    try {
      await this.host.start();
    } catch (err) {
      // served anyway: /livez 200, /healthz 503 and requests answer unavailable until Redis is reachable
      this.log.error({ event: 'broker_unreachable', err: (err as Error).message }, (err as Error).message);
    }
    const ready = new Promise<void>((resolve, reject) => (this.starting = { ready: resolve, failed: reject }));
    if (this.config.sqpoll > 0 && this.transportName === 'uring') this.spawn(0);
    else for (let i = 0; i < this.workers; i++) this.spawn(i);
    try {
      await ready;
    } catch (err) {
      // a worker that cannot start (its ring does not fit memlock, ...) fails the whole start
      await this.abandon();
      throw err;
    }
    this.starting = undefined;
    if (!this.broker.inProcess) {
      // the in-process broker is always up; a shared broker's state is polled (workers' changes push at once)
      this.viewTimer = setInterval(() => this.pushView(), VIEW_MS);
      this.viewTimer.unref();
    }
    let address: { host: string; port: number };
    try {
      this.opsAddress = await this.ops?.listen();
      address = await new Promise((resolve, reject) => {
        this.acceptor.once('error', reject);
        this.acceptor.listen({ host: this.config.host, port: this.config.port, backlog: this.config.listenBacklog }, () => {
          this.acceptor.off('error', reject);
          const addr = this.acceptor.address();
          resolve(typeof addr === 'object' && addr ? { host: addr.address, port: addr.port } : { host: this.config.host, port: 0 });
        });
      });
    } catch (err) {
      await this.abandon(); // the port is taken: the workers must not keep the process alive
      throw err;
    }
    this.address = address;
    const { host, port } = address;
    const features = this.slots[0]!.features;
    const sizing = typeof features.sizing === 'string' ? `; each ring ${features.sizing}` : '';
    this.log.info(
      { event: 'listening', host, port, path: this.config.path, transport: this.transportName, workers: this.workers, features },
      `ringcast listening on ${host}:${port}${this.config.path} (${this.transportName}, ${this.broker.name} broker, ${this.workers} workers${sizing})`,
    );
    await this.ops?.start(port);
    this.allocator.start();
    return address;
  }

  /** A start that failed: every worker and the broker stopped, so the process can exit. */
  private async abandon(): Promise<void> {
    this.draining = true;
    clearInterval(this.viewTimer);
    this.allocator.stop();
    await this.ops?.close();
    await Promise.all(this.slots.map((s) => s.worker?.terminate()));
    await this.broker.stop();
  }

  /**
   * Drain: every worker answers /healthz 503 and refuses upgrades for --drain-delay, then the
   * acceptor closes, every WebSocket gets 1001 and its queued frames flush (--drain-timeout).
   */
  drain(): Promise<void> {
    this.drainPromise ??= (async () => {
      this.draining = true;
      this.log.info({ event: 'draining', workers: this.workers }, 'draining');
      const drained = Promise.all(
        this.slots.map(
          (s) =>
            new Promise<void>((resolve) => {
              if (s.worker === undefined) return resolve();
              s.worker.once('exit', () => resolve());
              s.worker.on('message', (m: ToMain) => m.t === 'drained' && resolve());
              s.worker.postMessage({ t: 'drain' } satisfies ToWorker);
            }),
        ),
      );
      if (this.config.drainDelay > 0) await new Promise((r) => setTimeout(r, this.config.drainDelay));
      this.acceptorClosed = true;
      await new Promise<void>((resolve) => this.acceptor.close(() => resolve()));
      const deadline = this.config.drainTimeout + 2_000;
      await Promise.race([drained, new Promise((r) => setTimeout(r, deadline).unref())]);
      clearInterval(this.viewTimer);
      this.allocator.stop();
      await this.ops?.close();
      await Promise.all(this.slots.map((s) => s.worker?.terminate()));
      await this.broker.stop();
      this.log.info({ event: 'stopped' }, 'stopped');
    })();
    return this.drainPromise;
  }

  /**
   * Fault injection for tests: with RINGCAST_FAULT_INJECTION=1 worker 0 throws; with =stall
   * worker 1 blocks its event loop for 2 s.
   */
  injectFault(): void {
    const mode = process.env.RINGCAST_FAULT_INJECTION;
    if (mode === '1') this.slots[0]?.worker?.postMessage({ t: 'crash' } satisfies ToWorker);
    // stall:MS blocks worker 1 for MS (2000 by default): a test on a slow machine asks for longer
    const stall = /^stall(?::(\d+))?$/.exec(mode ?? '');
    if (stall) this.slots[1]?.worker?.postMessage({ t: 'stall', ms: Number(stall[1] ?? 2000) } satisfies ToWorker);
  }

  // ---- workers ----

  private spawn(index: number): void {
    const handoff = new SharedArrayBuffer(4 * HANDOFF_SLOTS);
    new Int32Array(handoff).fill(-1);
    const previous = this.slots[index];
    const slot: Slot = {
      index,
      worker: undefined,
      ready: false,
      handoff: new Int32Array(handoff),
      nextSlot: 0,
      startedAt: Date.now(),
      quickDeaths: previous?.quickDeaths ?? 0,
      features: {},
      ringFd: -1,
      drained: false,
      metrics: undefined,
    };
    this.slots[index] = slot;
    Atomics.store(this.cells, CELL_LOAD + index, 0);
    Atomics.store(this.cells, cellAdmission(this.workers, index), 0);
    Atomics.store(this.cells, cellConsumed(this.workers, index), 0);
    const data: WorkerData = {
      index,
      workers: this.workers,
      config: this.workerConfig(),
      probe: this.probe,
      cells: this.cellBuffer,
      handoff,
      view: this.view,
      brokerInProcess: this.broker.inProcess,
      faultInjection: process.env.RINGCAST_FAULT_INJECTION ?? '',
      // one kernel SQ thread for every ring: attach to a ring that is running (its fd is valid in this process)
      sqpollAttach: this.config.sqpoll > 0 ? (this.slots.find((s) => s.ready && s.ringFd >= 0)?.ringFd ?? -1) : -1,
    };
    const worker = new Worker(new URL('./worker.js', import.meta.url), { workerData: data });
    slot.worker = worker;
    this.host.attach(index, worker, () => Atomics.load(this.cells, cellConsumed(this.workers, index)));
    worker.on('message', (m: ToMain) => this.fromWorker(slot, m));
    worker.on('error', (err) => {
      this.lastError = err.message;
      this.root.error(
        { event: 'worker_error', worker: index, err: err instanceof Error ? err.stack : String(err) },
        `worker ${index} died: ${err.message}`,
      );
    });
    worker.on('exit', (code) => this.exited(slot, code));
  }

  private fromWorker(slot: Slot, m: ToMain): void {
    switch (m.t) {
      case 'batch':
        return this.host.receive(slot.index, m.items);
      case 'ready': {
        slot.ready = true;
        slot.features = m.features;
        slot.ringFd = m.ringFd;
        this.pushView(true);
        // with --sqpoll the first worker's ring comes first: the others attach to its SQ thread
        if (this.starting !== undefined && this.slots.length < this.workers) this.spawn(this.slots.length);
        if (this.slots.length === this.workers && this.slots.every((s) => s.ready)) this.starting?.ready();
        return;
      }
      case 'collected': {
        const c = this.collecting.get(m.id);
        if (c === undefined) return;
        slot.metrics = m.metrics as MetricJson[];
        c.left.delete(slot.index);
        if (c.left.size === 0) c.done();
        return;
      }
      case 'restored':
        return this.host.restored(m.id, slot.index, m.error);
      case 'ops':
        return this.opsAsks.answered(slot.index, m.id, m.answer);
      case 'drained':
        slot.drained = true;
        return;
    }
  }

  /** A worker ended: what it held is released, and unless the server is draining it is replaced. */
  private exited(slot: Slot, code: number): void {
    if (this.slots[slot.index] !== slot) return;
    slot.ready = false;
    slot.worker = undefined;
    this.host.detach(slot.index);
    // connections handed over but not yet taken: the main thread closes them (the swap decides who owns each fd)
    for (let i = 0; i < HANDOFF_SLOTS; i++) {
      const fd = Atomics.exchange(slot.handoff, i, -1);
      if (fd >= 0) closeQuietly(fd);
    }
    Atomics.store(this.cells, CELL_LOAD + slot.index, 0);
    Atomics.store(this.cells, cellAdmission(this.workers, slot.index), 0);
    this.retired = addCounts(this.retired, slot.metrics ?? []);
    slot.metrics = undefined;
    this.opsAsks.forget(slot.index);
    for (const c of this.collecting.values()) {
      c.left.delete(slot.index);
      if (c.left.size === 0) c.done();
    }
    if (this.draining) return;
    if (this.starting !== undefined) {
      return this.starting.failed(new Error(`worker ${slot.index} exited while starting (code ${code}): ${this.lastError || 'no error'}`));
    }
    this.restartCount++;
    this.restarts.inc();
    const quick = Date.now() - slot.startedAt < STABLE_MS;
    slot.quickDeaths = quick ? slot.quickDeaths + 1 : 0;
    const pause = quick ? Math.min(RESTART_MAX_MS, RESTART_MIN_MS * 2 ** (slot.quickDeaths - 1)) : RESTART_MIN_MS;
    this.root.error(
      { event: 'worker_exit', worker: slot.index, code, restartInMs: pause },
      `worker ${slot.index} exited (code ${code}); replaced in ${pause} ms`,
    );
    this.pushView(true);
    setTimeout(() => {
      if (!this.draining) this.spawn(slot.index);
    }, pause).unref();
  }

  /**
   * A worker's configuration: its ring holds its share of RLIMIT_NOFILE (one limit for the whole
   * process; the acceptor keeps the workers within one connection of each other), unless
   * --ring-slots says how many.
   */
  private workerConfig(): Config {
    if (this.config.ringSlots !== 0) return this.config;
    const nofile = openFileLimit();
    return nofile === undefined ? this.config : { ...this.config, ringSlots: Math.max(64, Math.ceil(nofile / this.workers)) };
  }

  // ---- the acceptor ----

  private accepted(socket: Socket): void {
    const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
    // while draining, connections still go to the workers until the acceptor closes: they answer
    // /healthz 503 and refuse upgrades for --drain-delay, as one process does
    if (this.acceptorClosed || typeof fd !== 'number' || fd < 0) return void socket.destroy();
    const dup = this.addon.dupFd(fd);
    socket.destroy(); // closes Node's fd; the duplicate goes to a worker
    if (dup < 0)
      return this.acceptError(Object.assign(new Error(`dup failed: ${getSystemErrorName(dup)}`), { code: getSystemErrorName(dup) }));
    // the worker with the fewest connections; one whose hand-off slots are all waiting (it is not
    // keeping up) is passed over for the next
    for (const slot of this.byLoad()) if (this.place(slot, dup)) return;
    closeQuietly(dup);
  }

  /** The ready workers, fewest connections first. */
  private byLoad(): Slot[] {
    const load = (s: Slot) => Atomics.load(this.cells, CELL_LOAD + s.index);
    return this.slots.filter((s) => s.ready).sort((a, b) => load(a) - load(b) || a.index - b.index);
  }

  /** Puts the fd in a free slot of the worker's hand-off array and tells the worker. */
  private place(s: Slot, fd: number): boolean {
    for (let tries = 0; tries < HANDOFF_SLOTS; tries++) {
      const i = s.nextSlot;
      s.nextSlot = (i + 1) % HANDOFF_SLOTS;
      if (Atomics.compareExchange(s.handoff, i, -1, fd) !== -1) continue;
      Atomics.add(this.cells, CELL_LOAD + s.index, 1);
      if (this.host.handOver(s.index, i)) return true;
      // the worker went away in between: take the fd back unless it was taken
      Atomics.sub(this.cells, CELL_LOAD + s.index, 1);
      return Atomics.exchange(s.handoff, i, -1) !== fd;
    }
    return false; // HANDOFF_SLOTS connections wait for this worker: it is not keeping up
  }

  private acceptError(err: NodeJS.ErrnoException): void {
    // EMFILE and friends: logged at most once a second, counted always
    this.metrics.internalErrors.inc({ where: 'accept' });
    const now = Date.now();
    if (now - this.acceptErrors < 1000) return;
    this.acceptErrors = now;
    this.log.error({ event: 'accept_failed', code: err.code, err: err.message }, `accept failed: ${err.message}`);
  }

  // ---- what every worker shows ----

  private currentView(): ClusterView {
    return {
      broker: this.broker.health(),
      workers: { configured: this.workers, running: this.slots.filter((s) => s.ready).length, restarts: this.restartCount },
    };
  }

  private pushView(force = false): void {
    const view = this.currentView();
    const json = JSON.stringify(view);
    if (!force && json === this.viewJson) return;
    this.view = view;
    this.viewJson = json;
    for (const s of this.slots) s.worker?.postMessage({ t: 'view', view } satisfies ToWorker);
  }

  /**
   * Every worker's registry and this thread's, added up (counters and gauges summed), plus the
   * process's own series. A worker that does not answer in time (its event loop is stalled) is
   * shown as it last answered, and a dead worker's counts stay in the sum: a counter that went
   * down would read as a reset, and rate() would count everything again.
   */
  private async collect(): Promise<{ contentType: string; text: string }> {
    const all = await this.gather();
    const text = (await all.metrics()) + (await this.processRegistry.metrics());
    return { contentType: this.processRegistry.contentType, text };
  }

  private async gather(): Promise<Registry> {
    const id = ++this.collectId;
    const live = this.slots.filter((s) => s.worker !== undefined && s.ready);
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, COLLECT_TIMEOUT_MS);
      const done = () => {
        clearTimeout(timer);
        resolve();
      };
      this.collecting.set(id, { left: new Set(live.map((s) => s.index)), done });
      if (live.length === 0) done();
      for (const s of live) s.worker!.postMessage({ t: 'collect', id } satisfies ToWorker);
    });
    this.collecting.delete(id);
    const got: object[] = [this.retired, await this.metrics.registry.getMetricsAsJSON()];
    for (const s of this.slots) if (s.metrics !== undefined) got.push(s.metrics);
    return AggregatorRegistry.aggregate(got as Parameters<typeof AggregatorRegistry.aggregate>[0]);
  }

  /** What the ops page reads of this process: the same sums as /metrics, the workers' state, their hubs. */
  private opsSource(): OpsSource {
    return {
      metrics: async () =>
        [...(await (await this.gather()).getMetricsAsJSON()), ...(await this.processRegistry.getMetricsAsJSON())] as OpsMetricJson[],
      node: () => {
        const now = Date.now();
        const broker = this.broker.health();
        const workers = this.slots.map((s) => ({
          index: s.index,
          state:
            s.worker === undefined
              ? ('down' as const)
              : !s.ready
                ? ('starting' as const)
                : this.opsAsks.stalled(s.index)
                  ? ('stalled' as const)
                  : ('up' as const),
          connections: Atomics.load(this.cells, CELL_LOAD + s.index),
          uptimeSeconds: s.worker === undefined ? 0 : Math.round((now - s.startedAt) / 1000),
        }));
        const allUp = workers.length === this.workers && workers.every((w) => w.state === 'up');
        return {
          transport: this.transportName,
          connections: workers.reduce((n, w) => n + w.connections, 0),
          uptimeSeconds: Math.round((now - this.startedAt) / 1000),
          state: this.draining ? 'down' : broker.state === 'up' && allUp ? 'up' : 'degraded',
          broker,
          workers,
        };
      },
      ask: (ask) =>
        this.opsAsks.ask(
          this.slots.filter((s) => s.ready && s.worker !== undefined).map((s) => ({ index: s.index, worker: s.worker! })),
          ask,
        ),
    };
  }
}

/** `total` with the counters and histograms of `more` added in (by series and labels). */
function addCounts(total: MetricJson[], more: MetricJson[]): MetricJson[] {
  const byName = new Map(total.map((m) => [m.name, m]));
  for (const m of more) {
    if (m.type !== 'counter' && m.type !== 'histogram') continue;
    let sum = byName.get(m.name);
    if (sum === undefined) byName.set(m.name, (sum = { ...m, values: [] }));
    for (const v of m.values) {
      const key = `${v.metricName ?? ''}${JSON.stringify(v.labels)}`;
      const same = sum.values.find((x) => `${x.metricName ?? ''}${JSON.stringify(x.labels)}` === key);
      if (same !== undefined) same.value += v.value;
      else sum.values.push({ ...v });
    }
  }
  return [...byName.values()];
}

function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // already closed
  }
}

/** RLIMIT_NOFILE (soft) of this process, from /proc/self/limits; undefined when unknown or unlimited. */
function openFileLimit(): number | undefined {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('Max open files'));
    const soft = Number(line?.split(/\s+/)[3]);
    return Number.isFinite(soft) && soft > 0 ? soft : undefined;
  } catch {
    return undefined;
  }
}
