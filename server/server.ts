// The server: wires hub, HTTP API, upgrade policy and a transport, and owns the lifecycle
// (listen, drain, stop). One instance per process in production; tests start many.
import type { Logger } from 'pino';
import { Gauge, type Registry } from 'prom-client';
import { AllocatorTrim } from './allocator.js';
import { MemoryBroker } from './broker/memory.js';
import { RedisBroker } from './broker/redis.js';
import type { BrokerHealth, SharedBroker } from './broker/types.js';
import { parseRedisUrl } from './broker/url.js';
import { ConfigError, type Config } from './config.js';
import { Hub } from './hub/hub.js';
import { Authenticator } from './auth/tokens.js';
import { handleHttp, type ApiContext } from './http/api.js';
import { decideUpgrade, LocalAdmission, parseOrigins, type Admission, type UpgradeContext } from './http/upgrade.js';
import type { MainLink } from './cluster/main-link.js';
import type { BrokerProxy } from './cluster/broker-proxy.js';
import { Metrics } from './metrics.js';
import { closeCodes } from './protocol/errors.js';
import { probeUring } from './transport/select.js';
import type { Transport, TransportEvents, TransportName } from './transport/types.js';
import { UringTransport } from './transport/uring.js';
import { WsTransport } from './transport/ws.js';
import { localSource } from './ops/local-source.js';
import { OpsServer } from './ops/server.js';

/** A worker thread of --workers: the main thread's broker and the limits shared by every worker. */
export interface WorkerRole {
  index: number;
  workers: number;
  /** the main thread: the cluster view and the process's /metrics */
  link: MainLink;
  broker: BrokerProxy;
  admission: Admission;
  /** with --sqpoll: the first worker's ring fd (UringTransport.ringFd()), to share its SQ thread */
  sqpollAttach?: number;
}

/** Thrown when --transport uring is demanded and the engine is unavailable (exit 1). */
export class TransportUnavailableError extends Error {}

export class RingcastServer {
  readonly hub: Hub;
  readonly metrics: Metrics;
  readonly transport: Transport;
  /** the broker: in this process (--broker memory), Redis, or (a worker thread) the main thread's */
  readonly broker: SharedBroker;
  private draining = false;
  private drainPromise: Promise<void> | undefined;
  /** --ops on one thread (with --workers the main thread serves it) */
  private readonly ops: OpsServer | undefined;
  /** the main thread's (undefined in a worker thread) */
  private readonly allocator: AllocatorTrim | undefined;
  address: { host: string; port: number } | undefined;
  opsAddress: { host: string; port: number } | undefined;

  constructor(
    readonly config: Config,
    private readonly log: Logger,
    /** set in a worker thread of --workers */
    private readonly role?: WorkerRole,
  ) {
    const { name, reason } = chooseTransport(config);
    // with --workers the main thread says it, once
    if (reason !== undefined && role === undefined) log.warn({ event: 'transport_fallback', transport: name, reason }, reason);
    this.metrics = new Metrics(name, role === undefined);
    this.broker = role?.broker ?? makeBroker(config, this.metrics, log);
    this.hub = new Hub(config, this.metrics, this.broker);
    this.hub.onLog = (fields) => log.warn(fields, 'broker topic error');
    const auth = Authenticator.fromConfig(config);
    // the limit beside the count, so an alert can say "near the limit" (with --workers the main thread says it, once)
    if (role === undefined) maxConnectionsGauge(this.metrics.registry, config.maxConnections);
    // the C allocator is the process's: one trimmer, on the main thread
    if (role === undefined) this.allocator = new AllocatorTrim(config.mallocTrim, this.metrics.registry, log);
    if (config.ops && role === undefined) this.ops = new OpsServer(config, localSource(this), log, auth);
    const upgradeCtx: UpgradeContext = {
      config,
      auth,
      origins: parseOrigins(config.allowedOrigins),
      metrics: this.metrics,
      draining: () => this.draining,
      admission: role?.admission ?? new LocalAdmission(() => this.transport.connectionCount()),
    };
    const api: ApiContext = {
      hub: this.hub,
      metrics: this.metrics,
      wsPath: config.path,
      apiKey: config.apiKey,
      auth,
      draining: () => this.draining,
      broker: () => this.brokerHealth(),
      brokerInProcess: this.broker.inProcess,
      demo: config.demo,
      cluster: role === undefined ? undefined : () => role.link.cluster,
      metricsText: role === undefined ? undefined : () => role.link.metrics(),
    };
    const events: TransportEvents = {
      http: (req) => handleHttp(api, req),
      upgrade: (req) => decideUpgrade(upgradeCtx, req),
      open: (id, info, deflate) => this.hub.open(id, info, deflate),
      message: (id, data, isBinary) => this.hub.message(id, data, isBinary),
      close: (id) => {
        upgradeCtx.admission.closed();
        this.hub.close(id);
      },
      flushed: () => this.hub.flushed(),
      fault: (where, err, id) => {
        this.metrics.internalErrors.inc({ where });
        log.error({ event: 'internal_error', where, err: err instanceof Error ? err.stack : String(err) }, `internal error in ${where}`);
        if (id !== undefined) this.hub.fail(id);
      },
    };
    this.transport =
      name === 'uring'
        ? new UringTransport(config, events, this.metrics, role?.workers ?? 1, role?.sqpollAttach ?? -1)
        : new WsTransport(config, events, this.metrics);
    this.hub.transport = this.transport;
    const refused = this.transport.features.sqpollRefused;
    if (typeof refused === 'string' && role === undefined) log.warn({ event: 'sqpoll_refused', reason: refused }, refused);
  }

  get transportName(): TransportName {
    return this.transport.name;
  }

  get isDraining(): boolean {
    return this.draining;
  }

  brokerHealth(): BrokerHealth {
    return this.broker.health();
  }

  async listen(): Promise<{ host: string; port: number }> {
    await this.startBroker();
    this.opsAddress = await this.ops?.listen();
    try {
      this.address = await this.transport.listen(this.config.host, this.config.port);
    } catch (err) {
      await this.ops?.close(); // its listener would keep a process that cannot serve alive
      throw err;
    }
    this.log.info(
      {
        event: 'listening',
        host: this.address.host,
        port: this.address.port,
        path: this.config.path,
        transport: this.transport.name,
        features: this.transport.features,
      },
      `ringcast listening on ${this.address.host}:${this.address.port}${this.config.path} (${this.transport.name}, ${this.brokerHealth().broker} broker)`,
    );
    await this.ops?.start(this.address.port);
    this.allocator?.start();
    return this.address;
  }

  /** A worker thread's start: its connections come from the main thread's acceptor (adopt). */
  async startWorker(): Promise<void> {
    await this.startBroker();
  }

  /** Takes over a connection the main thread accepted (see Transport.adopt). */
  adopt(fd: number): boolean {
    return this.transport.adopt(fd);
  }

  private async startBroker(): Promise<void> {
    try {
      await this.broker.start(this.hub.brokerEvents());
    } catch (err) {
      // served anyway: /livez 200, /healthz 503 and requests answer unavailable until Redis is reachable
      this.log.error({ event: 'broker_unreachable', err: (err as Error).message }, (err as Error).message);
    }
    this.hub.startPresenceRefresh();
  }

  /**
   * Drain: /healthz answers 503 and upgrades are refused for --drain-delay, then the listener
   * closes, every WebSocket gets 1001, and queued frames flush (at most --drain-timeout).
   */
  drain(): Promise<void> {
    this.drainPromise ??= (async () => {
      this.draining = true;
      this.log.info({ event: 'draining', connections: this.transport.connectionCount() }, 'draining');
      if (this.config.drainDelay > 0) await new Promise((r) => setTimeout(r, this.config.drainDelay));
      await this.transport.stopAccepting();
      await this.transport.closeAll(closeCodes.goingAway.code, closeCodes.goingAway.reason, this.config.drainTimeout);
      this.hub.stop();
      this.allocator?.stop();
      await this.ops?.close();
      await this.broker.stop();
      this.log.info({ event: 'stopped' }, 'stopped');
    })();
    return this.drainPromise;
  }

  /** Immediate stop for tests and embedding: same as drain without the delay. */
  close(): Promise<void> {
    return this.drain();
  }
}

/** ringcast_max_connections: --max-connections (0: no limit), for alerts on ringcast_connections near it. */
export function maxConnectionsGauge(registry: Registry, limit: number): void {
  new Gauge({ name: 'ringcast_max_connections', help: 'The --max-connections limit (0 = none)', registers: [registry] }).set(limit);
}

/**
 * The broker --broker names. `memory` is the in-process one, whose store is the server's: /metrics
 * shows it and counts its evictions.
 */
export function makeBroker(config: Config, metrics: Metrics, log: Logger, workers = false): SharedBroker {
  if (config.broker === 'memory') {
    // a single process's hub is everyone present; the main thread of --workers keeps a table for all workers
    const memory = MemoryBroker.fromConfig(config, workers);
    memory.countInto(metrics);
    return memory;
  }
  const target = parseRedisUrl(config.broker);
  if (typeof target === 'string') throw new ConfigError(`invalid --broker: ${target}`);
  return new RedisBroker(
    {
      target,
      prefix: config.brokerPrefix,
      timeoutMs: config.brokerTimeout,
      probeMs: config.brokerProbe,
      history: config.history,
      historyTtlMs: config.historyTtl * 1000,
      idempotencyTtlMs: config.idempotencyTtl * 1000,
      presenceTtlMs: config.presenceTtl * 1000,
      maxTopics: config.maxTopics,
      maxHistoryBytes: config.maxHistoryBytes,
    },
    metrics,
    log.child({ broker: 'redis' }),
  );
}

function chooseTransport(config: Config): { name: TransportName; reason?: string } {
  if (config.transport === 'ws') return { name: 'ws' };
  const probe = probeUring();
  if (probe.ok) return { name: 'uring' };
  if (config.transport === 'uring') throw new TransportUnavailableError(probe.reason);
  return { name: 'ws', reason: probe.reason };
}
