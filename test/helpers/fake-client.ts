// A real Hub between a FakeTransport and (optionally) a FakeBroker, and clients that speak protocol
// v1 to it through the entry points a transport calls (open, message, close). The hub's unit suite
// (test/unit/hub*.test.ts) builds every hub here, so a change to how a hub is made (one broker
// seam, an in-process broker for single-process mode) is one edit in this file.
import type { Permissions } from '../../server/auth/permissions.js';
import { configWith, type Config } from '../../server/config.js';
import { MemoryBroker } from '../../server/broker/memory.js';
import { Hub } from '../../server/hub/hub.js';
import { Metrics } from '../../server/metrics.js';
import { CONN_SLOT_MASK } from '../../server/transport/types.js';
import type { FakeBroker } from './fake-broker.js';
import { FakeTransport, type Frame } from './fake-transport.js';

export interface ConnectOptions {
  topics?: string[];
  user?: string;
  perms?: Permissions | null;
  deflate?: boolean;
  /** a connection id chosen by the test (uring ids carry a generation above CONN_SLOT_MASK) */
  id?: number;
}

export interface HubUnderTest {
  hub: Hub;
  transport: FakeTransport;
  metrics: Metrics;
  config: Config;
  connect(options?: ConnectOptions): FakeClient;
  /** Value of a gauge or counter series (first series when no labels are given). */
  metric(name: string, labels?: Record<string, string>): Promise<number>;
  stop(): void;
}

/** Lets every promise the hub chained settle (one macrotask turn after the microtasks drain). */
export async function settle(): Promise<void> {
  for (let i = 0; i < 3; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

/**
 * A hub with config `overrides`, on `broker` (a FakeBroker the test drives), else on the
 * in-process broker of a single process, made as the server makes it. The broker is started with
 * the hub's events.
 */
export async function hubUnderTest(overrides: Partial<Config> = {}, broker?: FakeBroker): Promise<HubUnderTest> {
  const config = configWith(overrides);
  const metrics = new Metrics('ws', false);
  let inProcess: MemoryBroker | undefined;
  if (broker === undefined) {
    inProcess = MemoryBroker.fromConfig(config, false); // as makeBroker makes it for one process
    inProcess.countInto(metrics);
  }
  const used = broker ?? inProcess!;
  const hub = new Hub(config, metrics, used);
  const transport = new FakeTransport();
  hub.transport = transport;
  await used.start(hub.brokerEvents());
  let next = 1;
  const h: HubUnderTest = {
    hub,
    transport,
    metrics,
    config,
    connect: (options = {}) => {
      const id = options.id ?? next++;
      transport.connected(id, options.deflate === true);
      hub.open(
        id,
        { topics: options.topics ?? [], user: options.user ?? '', perms: options.perms ?? null, expiresAt: undefined },
        options.deflate === true,
      );
      return new FakeClient(id, h);
    },
    metric: async (name, labels) => {
      const values = (await metrics.registry.getSingleMetric(name)!.get()).values;
      const found = labels === undefined ? values[0] : values.find((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l));
      return found?.value ?? 0;
    },
    stop: () => {
      hub.stop();
      void inProcess?.stop();
    },
  };
  return h;
}

export class FakeClient {
  private read = 0;

  constructor(
    readonly id: number,
    private readonly h: HubUnderTest,
  ) {}

  get slot(): number {
    return this.id & CONN_SLOT_MASK;
  }

  /** Sends one request (an object is sent as its JSON, a string as it is). */
  send(req: object | string): void {
    this.h.hub.message(this.id, Buffer.from(typeof req === 'string' ? req : JSON.stringify(req)), false);
  }

  sendBinary(bytes: Buffer): void {
    this.h.hub.message(this.id, bytes, true);
  }

  /** Every frame received so far. */
  all(): Frame[] {
    return this.h.transport.frames(this.id);
  }

  /** The frames received since the last take(). */
  take(): Frame[] {
    const frames = this.all();
    const fresh = frames.slice(this.read);
    this.read = frames.length;
    return fresh;
  }

  /** The `msg` frames received since the last take(), as [seq, data] (other frames are dropped). */
  takeMsgs(): [number, unknown][] {
    return this.take()
      .filter((f) => f.op === 'msg')
      .map((f) => [f.seq!, f.data]);
  }

  /** The transport reports the connection gone; the hub is told. */
  disconnect(): void {
    this.h.transport.disconnected(this.id);
    this.h.hub.close(this.id);
  }

  get closedWith(): { code: number; reason: string } | undefined {
    return this.h.transport.closes.get(this.id);
  }
}
