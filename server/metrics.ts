// Prometheus metrics (prom-client), one registry per server so several servers can live in
// one process (tests). Labels never carry topic names or user ids: cardinality stays fixed.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { NativeStatRow, NativeStats } from './transport/native.js';

/**
 * Counters of both transports: ws counts them in TypeScript, the io_uring engine in its stats
 * table (a row of the same metric name), which attachRing() adds instead of registering it again.
 */
const SHARED_COUNTERS = {
  closeTimeouts: {
    name: 'ringcast_close_timeouts_total',
    help: 'Connections aborted because they did not finish closing within --close-timeout',
  },
  compressedBytesOut: {
    name: 'ringcast_bytes_out_compressed_total',
    help: 'Bytes of permessage-deflate msg frames queued to subscribers that negotiated it (compressed frame size x receivers)',
  },
  compressedSourceBytes: {
    name: 'ringcast_bytes_out_compressed_source_total',
    help: 'Uncompressed bytes those compressed frames stood for (their part of ringcast_bytes_out_total)',
  },
} as const;
type SharedCounter = keyof typeof SHARED_COUNTERS;

export class Metrics {
  readonly registry = new Registry();
  readonly connections: Gauge<'transport'>;
  readonly upgradesRejected: Counter<'reason'>;
  readonly messagesIn: Counter;
  readonly publishes: Counter<'source'>;
  readonly deliveries: Counter;
  readonly bytesOut: Counter;
  readonly slowConsumerCloses: Counter;
  readonly protocolErrors: Counter<'code'>;
  readonly publishToWrite: Histogram;
  readonly authFailures: Counter<'reason'>;
  readonly rateLimited: Counter;
  readonly rateLimitCloses: Counter;
  readonly internalErrors: Counter<'where'>;
  readonly topicsEvicted: Counter<'reason'>;
  readonly historyEvicted: Counter;
  readonly topicLimitRefusals: Counter;
  readonly duplicatePublishes: Counter;
  readonly presenceEventsDropped: Counter;
  readonly repliesCut: Counter<'op'>;
  readonly brokerUp: Gauge;
  readonly brokerReconnects: Counter<'link'>;
  readonly brokerRunsConfirmed: Counter<'verdict'>;
  readonly brokerErrors: Counter<'op'>;
  readonly brokerStaleLinks: Counter<'link'>;
  readonly brokerCatchups: Counter;
  readonly brokerCatchupMessages: Counter;
  readonly brokerResyncs: Counter;
  /** SHARED_COUNTERS as counted in TypeScript (ws); the engine counts its own */
  private readonly counted: Record<SharedCounter, number> = { closeTimeouts: 0, compressedBytesOut: 0, compressedSourceBytes: 0 };
  private readonly engineCounted: Partial<Record<SharedCounter, () => number>> = {};

  /**
   * `processMetrics` false: no process-wide series (CPU, RSS, GC, event-loop lag): a worker
   * thread leaves them to the main thread, which adds every worker's registry to its own.
   */
  constructor(transport: string, processMetrics = true) {
    const registers = [this.registry];
    this.connections = new Gauge({
      name: 'ringcast_connections',
      help: 'Open WebSocket connections',
      labelNames: ['transport'],
      registers,
    });
    this.connections.set({ transport }, 0);
    this.upgradesRejected = new Counter({
      name: 'ringcast_upgrades_rejected_total',
      help: 'WebSocket upgrades refused, by reason',
      labelNames: ['reason'],
      registers,
    });
    this.messagesIn = new Counter({ name: 'ringcast_messages_in_total', help: 'WebSocket messages received', registers });
    this.publishes = new Counter({
      name: 'ringcast_publishes_total',
      help: 'Messages published, by source (ws or http)',
      labelNames: ['source'],
      registers,
    });
    this.deliveries = new Counter({ name: 'ringcast_deliveries_total', help: 'msg frames queued to subscribers', registers });
    this.bytesOut = new Counter({
      name: 'ringcast_bytes_out_total',
      help: 'Bytes of msg frames queued to subscribers (uncompressed size; permessage-deflate sends fewer)',
      registers,
    });
    this.slowConsumerCloses = new Counter({
      name: 'ringcast_slow_consumer_closes_total',
      help: 'Connections closed with 1013 for exceeding --max-outbound',
      registers,
    });
    this.protocolErrors = new Counter({
      name: 'ringcast_request_errors_total',
      help: 'err replies sent, by error code',
      labelNames: ['code'],
      registers,
    });
    this.publishToWrite = new Histogram({
      name: 'ringcast_publish_to_write_seconds',
      help: 'Time from a publish arriving to its frames being handed to the kernel',
      buckets: [0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers,
    });
    this.authFailures = new Counter({
      name: 'ringcast_auth_failures_total',
      help: 'Refused credentials, by reason (missing_token, bad_token, expired_token, bad_api_key)',
      labelNames: ['reason'],
      registers,
    });
    this.rateLimited = new Counter({ name: 'ringcast_rate_limited_total', help: 'Messages refused with err rate_limited', registers });
    this.rateLimitCloses = new Counter({
      name: 'ringcast_rate_limit_closes_total',
      help: 'Connections closed with 1008 for sustained rate-limit abuse',
      registers,
    });
    this.internalErrors = new Counter({
      name: 'ringcast_internal_errors_total',
      help: 'Events whose handling threw (a bug): answered 500 or that connection closed with 1011, by where',
      labelNames: ['where'],
      registers,
    });
    this.topicsEvicted = new Counter({
      name: 'ringcast_topics_evicted_total',
      help: 'Topics dropped, by reason: ttl (--history-ttl), max_topics, max_history_bytes',
      labelNames: ['reason'],
      registers,
    });
    this.historyEvicted = new Counter({
      name: 'ringcast_history_evicted_total',
      help: 'Retained messages dropped from topics with subscribers to stay under --max-history-bytes',
      registers,
    });
    this.topicLimitRefusals = new Counter({
      name: 'ringcast_topic_limit_refusals_total',
      help: 'New topics refused (err topic_limit, HTTP 503) because --max-topics topics all have subscribers',
      registers,
    });
    this.duplicatePublishes = new Counter({
      name: 'ringcast_duplicate_publishes_total',
      help: 'Publishes whose idempotency key was seen within --idempotency-ttl: answered with the first seq, nothing delivered',
      registers,
    });
    this.presenceEventsDropped = new Counter({
      name: 'ringcast_presence_events_dropped_total',
      help: 'join/leave events past --presence-events per topic per second, replaced by one presence_sync',
      registers,
    });
    this.repliesCut = new Counter({
      name: 'ringcast_replies_cut_total',
      help: 'history acks ("more":true) and sub replays (recovered:false) cut to the reply bound, by op',
      labelNames: ['op'],
      registers,
    });
    this.brokerUp = new Gauge({
      name: 'ringcast_broker_up',
      help: '1 while the broker serves (connected, subscribed, caught up); 0 while requests answer unavailable. Always 1 with the memory broker',
      registers,
    });
    this.brokerUp.set(1);
    this.brokerRunsConfirmed = new Counter({
      name: 'ringcast_broker_runs_confirmed_total',
      help: 'Redis runs (a first start, a restart) this node confirmed before serving, by verdict: kept (nothing it saw was lost: epochs stay), renewed (Redis lost data or nobody could vouch: every epoch renewed), new (Redis came back empty)',
      labelNames: ['verdict'],
      registers,
    });
    this.brokerReconnects = new Counter({
      name: 'ringcast_broker_reconnects_total',
      help: 'Redis links made again after a loss, by link (command, subscriber)',
      labelNames: ['link'],
      registers,
    });
    this.brokerErrors = new Counter({
      name: 'ringcast_broker_errors_total',
      help: 'Redis commands that failed or timed out, by operation',
      labelNames: ['op'],
      registers,
    });
    this.brokerStaleLinks = new Counter({
      name: 'ringcast_broker_stale_links_total',
      help: 'Redis links reconnected because a probe through them did not come back within --broker-timeout, by link',
      labelNames: ['link'],
      registers,
    });
    this.brokerCatchups = new Counter({
      name: 'ringcast_broker_catchups_total',
      help: 'Topic repairs: missed messages read back from the broker after a seq gap, an outage or a failed check',
      registers,
    });
    this.brokerCatchupMessages = new Counter({
      name: 'ringcast_broker_catchup_messages_total',
      help: "Messages delivered from the broker's history by repairs",
      registers,
    });
    this.brokerResyncs = new Counter({
      name: 'ringcast_broker_resyncs_total',
      help: "resync frames sent: the broker could not give what a topic's subscribers missed (new epoch, or older than its history)",
      registers,
    });
    const self = this;
    for (const [key, { name, help }] of Object.entries(SHARED_COUNTERS) as [SharedCounter, { name: string; help: string }][]) {
      new Counter({
        name,
        help,
        registers,
        collect() {
          this.reset();
          this.inc(self.counted[key] + (self.engineCounted[key]?.() ?? 0));
        },
      });
    }
    // process CPU, RSS, GC and event-loop lag (nodejs_eventloop_lag_*)
    if (processMetrics) collectDefaultMetrics({ register: this.registry, eventLoopMonitoringPrecision: 20 });
  }

  /** A connection was aborted at --close-timeout (ws transport; the engine counts its own). */
  closeTimedOut(): void {
    this.counted.closeTimeouts++;
  }

  /**
   * A fanout queued a compressed msg frame of `compressedLength` bytes to `receivers` subscribers
   * that negotiated permessage-deflate, in place of its uncompressed frame of `length` bytes (ws
   * transport; the engine counts its own).
   */
  sentCompressed(receivers: number, compressedLength: number, length: number): void {
    this.counted.compressedBytesOut += receivers * compressedLength;
    this.counted.compressedSourceBytes += receivers * length;
  }

  /** Gauges read at each scrape: topics held and retained history bytes. */
  attachStore(read: () => { readonly size: number; readonly historyBytes: number }): void {
    const registers = [this.registry];
    new Gauge({
      name: 'ringcast_topics',
      help: 'Topics held (with or without subscribers)',
      registers,
      collect() {
        this.set(read().size);
      },
    });
    new Gauge({
      name: 'ringcast_history_bytes',
      help: 'Retained message bytes over all topics',
      registers,
      collect() {
        this.set(read().historyBytes);
      },
    });
  }

  /**
   * Requests waiting for the broker (Redis, or the main thread of --workers) over every
   * connection, and the bytes they hold: an idle node shows 0, whatever outages came before.
   */
  attachInFlight(read: () => { inFlight: number; inFlightBytes: number }): void {
    const registers = [this.registry];
    new Gauge({
      name: 'ringcast_broker_requests_in_flight',
      help: 'Client requests (pub, history, presence) waiting for the broker',
      registers,
      collect() {
        this.set(read().inFlight);
      },
    });
    new Gauge({
      name: 'ringcast_broker_request_bytes_in_flight',
      help: 'Bytes held by client requests waiting for the broker (a read counts its reply bound)',
      registers,
      collect() {
        this.set(read().inFlightBytes);
      },
    });
  }

  /**
   * The io_uring engine's counters and gauges, one series per row of the addon's stats table
   * (declared once in C++), read from the engine at each scrape. Ratios such as SQEs per enter
   * or CQEs per reap are rate(a) / rate(b) in PromQL (docs/metrics.md).
   */
  attachRing(table: readonly NativeStatRow[], read: () => NativeStats): void {
    const registers = [this.registry];
    let cached: NativeStats | undefined;
    let at = 0;
    const stats = () => {
      const now = Date.now();
      if (cached === undefined || now - at > 100) {
        cached = read(); // one read serves every ring metric of a scrape
        at = now;
      }
      return cached;
    };
    const shared = new Map(Object.entries(SHARED_COUNTERS).map(([k, { name }]) => [name as string, k as SharedCounter]));
    for (const { key, kind, metric, help } of table) {
      const counter = shared.get(metric);
      if (counter !== undefined) {
        this.engineCounted[counter] = () => stats()[key] ?? 0;
      } else if (kind === 'counter') {
        new Counter({
          name: metric,
          help,
          registers,
          collect() {
            this.reset();
            this.inc(stats()[key] ?? 0);
          },
        });
      } else {
        new Gauge({
          name: metric,
          help,
          registers,
          collect() {
            this.set(stats()[key] ?? 0);
          },
        });
      }
    }
  }
}
