// Prometheus metrics (prom-client), one registry per server so several servers can live in
// one process (tests). Labels never carry topic names or user ids: cardinality stays fixed.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

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

  constructor(transport: string) {
    const registers = [this.registry];
    this.connections = new Gauge({ name: 'ringcast_connections', help: 'Open WebSocket connections', labelNames: ['transport'], registers });
    this.connections.set({ transport }, 0);
    this.upgradesRejected = new Counter({
      name: 'ringcast_upgrades_rejected_total',
      help: 'WebSocket upgrades refused, by reason',
      labelNames: ['reason'],
      registers,
    });
    this.messagesIn = new Counter({ name: 'ringcast_messages_in_total', help: 'WebSocket messages received', registers });
    this.publishes = new Counter({ name: 'ringcast_publishes_total', help: 'Messages published, by source (ws or http)', labelNames: ['source'], registers });
    this.deliveries = new Counter({ name: 'ringcast_deliveries_total', help: 'msg frames queued to subscribers', registers });
    this.bytesOut = new Counter({ name: 'ringcast_bytes_out_total', help: 'Bytes of msg frames queued to subscribers', registers });
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
    // process CPU, RSS, GC and event-loop lag (nodejs_eventloop_lag_*)
    collectDefaultMetrics({ register: this.registry, eventLoopMonitoringPrecision: 20 });
  }
}
