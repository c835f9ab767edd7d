// The redis broker: Redis numbers, stores and publishes every message (scripts.ts), and this
// node subscribes the channels of the topics it has subscribers for. Two connections whatever
// the topic count: one for commands (pipelined by ioredis), one for subscriptions.
// Longer than ~450 lines on purpose: the links' state (up, down, catching up, the generation an
// outage bumps, the confirmed run) is read by every request, probe and recovery step here; the
// scripts and URL parsing have their own files.
//
// It fails loudly: no offline queue, no retries, a command timeout, no ioredis auto-resubscribe.
// While a link is down, every request answers `unavailable` at once. When both links are back,
// the scripts are loaded again (EVALSHA falls back to EVAL), every followed channel is subscribed
// again in batches and awaited, the hub checks every topic it holds against Redis (catch-up or
// resync), and only then is the broker `up`. A probe published to this node's own channel every
// --broker-probe catches a subscription link that is connected but delivers nothing.
//
// Before serving a Redis run it has not served yet (a first start, a Redis restart), the node
// confirms the prefix's data with the CONFIRM script: the highest watermark it saw under the run
// before tells whether Redis lost publishes (then every epoch is renewed) or not (every epoch
// stays). Errors it answers requests with name no host, port or address: those go to the log,
// the metrics and /healthz only.
import { randomBytes } from 'node:crypto';
import { Redis, ReplyError, type RedisOptions } from 'ioredis';
import type { Logger } from 'pino';
import type { Metrics } from '../metrics.js';
import { CONFIRM, PRESENCE, PRESENCE_LIST, PUBLISH, READ, SWEEP, TOUCH } from './scripts.js';
import {
  BrokerRefusedError,
  BrokerTimeoutError,
  BrokerTopicLimitError,
  BrokerUnavailableError,
  type BrokerEvents,
  type BrokerHealth,
  type BrokerState,
  type PresenceList,
  type Published,
  type SharedBroker,
  type TopicState,
} from './types.js';
import { linkOptions, type RedisTarget } from './url.js';

/** Channels per SUBSCRIBE when resubscribing after an outage. */
const RESUBSCRIBE_BATCH = 500;
/** Topics whose last seq one probe checks (round robin). */
const CHECK_BATCH = 1000;
/** Longest pause between reconnect attempts (ms). */
const MAX_RECONNECT_DELAY_MS = 1000;
/** Records the periodic sweep looks at per probe. */
const SWEEP_BATCH = 1000;
/** Pause between confirmations while no node can vouch for a restarted Redis's data (ms). */
const CONFIRM_RETRY_MS = 100;

export interface RedisBrokerOptions {
  target: RedisTarget;
  prefix: string;
  /** --broker-timeout (ms) */
  timeoutMs: number;
  /** --broker-probe (ms); 0 = off */
  probeMs: number;
  /** --history: stream length per topic */
  history: number;
  /** how long a topic's stream lives after its last publish (ms) */
  historyTtlMs: number;
  /** --idempotency-ttl (ms); 0 = keys ignored */
  idempotencyTtlMs: number;
  /** --presence-ttl (ms) */
  presenceTtlMs: number;
  /** --max-topics: topic records in Redis over all nodes */
  maxTopics: number;
  /** --max-history-bytes: retained bytes in Redis over all nodes */
  maxHistoryBytes: number;
}

/** How the node confirmed a Redis run's data (CONFIRM). */
type Verdict = 'new' | 'kept' | 'renewed' | 'unknown';

interface Commands {
  rcPublish(
    meta: string,
    stream: string,
    keys: string,
    kx: string,
    ...args: (string | Buffer | number)[]
  ): Promise<[number, string, number, number, number]>;
  rcReadBuffer(meta: string, stream: string, ...args: (string | number)[]): Promise<(Buffer | number | null)[]>;
  rcConfirm(...args: (string | number)[]): Promise<[Verdict, number]>;
  rcSweep(...args: (string | number)[]): Promise<number>;
  rcTouch(...args: string[]): Promise<number>;
  rcPresence(pz: string, pi: string, ...args: (string | number)[]): Promise<number>;
  rcPresenceList(pz: string, pi: string, limit: number): Promise<(string | number)[]>;
}

type Link = 'command' | 'subscriber';

export class RedisBroker implements SharedBroker {
  readonly name = 'redis';
  readonly inProcess = false;
  readonly keepsPresence = true;
  private readonly nodeId = randomBytes(6).toString('hex');
  private readonly cmd: Redis & Commands;
  private readonly sub: Redis;
  private events!: BrokerEvents;
  private state: BrokerState = 'connecting';
  private reason: string | undefined = 'connecting';
  /** topics whose channel this node wants subscribed */
  private readonly followed = new Set<string>();
  private runId = '';
  /** the Redis run whose data this node last confirmed, and the highest watermark it saw since */
  private confirmedRun = '';
  private seenWm = 0;
  private readonly linkUp = { command: false, subscriber: false };
  /** bumped on every outage, so a recovery that an outage interrupted does not mark the broker up */
  private generation = 0;
  private probeTimer: NodeJS.Timeout | undefined;
  private probeSent = 0;
  private probeSeen = 0;
  private probeSentAt = 0;
  /**
   * Last seqs read by a probe, held until that probe's message comes back on the subscription
   * link: the channel messages published before the read have then arrived, so a topic behind
   * them is missing a message, not waiting for a slow link (checkTops).
   */
  private pendingTops: { probe: number; generation: number; tops: [string, number, string | null][] } | undefined;
  /** where the next periodic check of topics' last seq starts */
  private checkCursor = 0;
  private readonly nodeChannel: string;
  /** epochs this node proposes are its id and a counter: unique, and no random bytes per call */
  private epochCount = 0;
  private stopped = false;

  constructor(
    private readonly options: RedisBrokerOptions,
    private readonly metrics: Metrics,
    private readonly log: Logger,
  ) {
    const { target, timeoutMs } = options;
    const common: RedisOptions = {
      ...linkOptions(target, timeoutMs),
      lazyConnect: true,
      autoResendUnfulfilledCommands: false,
      autoResubscribe: false,
      enableReadyCheck: true,
      retryStrategy: (attempt) => (this.stopped ? null : Math.min(50 * 2 ** Math.min(attempt, 10), MAX_RECONNECT_DELAY_MS)),
    };
    this.cmd = new Redis({ ...common, connectionName: `ringcast-${this.nodeId}-cmd` }) as Redis & Commands;
    this.sub = new Redis({ ...common, connectionName: `ringcast-${this.nodeId}-sub` });
    this.cmd.defineCommand('rcPublish', { numberOfKeys: 4, lua: PUBLISH });
    this.cmd.defineCommand('rcRead', { numberOfKeys: 2, lua: READ });
    this.cmd.defineCommand('rcConfirm', { numberOfKeys: 0, lua: CONFIRM });
    this.cmd.defineCommand('rcSweep', { numberOfKeys: 0, lua: SWEEP });
    this.cmd.defineCommand('rcTouch', { numberOfKeys: 0, lua: TOUCH });
    this.cmd.defineCommand('rcPresence', { numberOfKeys: 2, lua: PRESENCE });
    this.cmd.defineCommand('rcPresenceList', { numberOfKeys: 2, lua: PRESENCE_LIST });
    this.nodeChannel = `${options.prefix}:node:${this.nodeId}`;
  }

  get ready(): boolean {
    return this.state === 'up';
  }

  health(): BrokerHealth {
    return this.state === 'up' ? { broker: this.name, state: this.state } : { broker: this.name, state: this.state, reason: this.reason };
  }

  /** Connects both links; resolves once up, or rejects with why when Redis cannot be reached within the timeout. */
  async start(events: BrokerEvents): Promise<void> {
    this.events = events;
    this.watch(this.cmd, 'command');
    this.watch(this.sub, 'subscriber');
    this.sub.on('messageBuffer', (channel: Buffer, message: Buffer) => this.onChannelMessage(channel, message));
    this.metrics.brokerUp.set(0);
    // a first connection that fails keeps retrying in the background; start() reports it
    this.cmd.connect().catch(() => undefined);
    this.sub.connect().catch(() => undefined);
    const deadline = Date.now() + Math.max(this.options.timeoutMs, 1000);
    while (this.state !== 'up' && Date.now() < deadline && !this.stopped) await sleep(20);
    if (this.options.probeMs > 0) {
      this.probeTimer = setInterval(() => this.probe(), this.options.probeMs);
      this.probeTimer.unref();
    }
    if (this.state !== 'up')
      throw new BrokerUnavailableError(
        `redis at ${this.options.target.host}:${this.options.target.port} is not reachable: ${this.reason ?? 'unknown'}`,
      );
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.state = 'stopped';
    clearInterval(this.probeTimer);
    this.cmd.disconnect();
    this.sub.disconnect();
  }

  // ---- link state ----

  private watch(client: Redis, link: Link): void {
    client.on('ready', () => void this.linkReady(link));
    client.on('error', (err: Error) => {
      this.reason = `${link} link: ${err.message}`;
    });
    client.on('close', () => this.linkLost(link));
  }

  private linkLost(link: Link): void {
    if (!this.linkUp[link] && this.state !== 'up' && this.state !== 'catching_up') return;
    this.linkUp[link] = false;
    this.generation++;
    if (this.stopped) return;
    if (this.state === 'up' || this.state === 'catching_up') {
      this.log.warn(
        { event: 'broker_down', broker: this.name, link, reason: this.reason },
        `redis ${link} link lost: requests answer unavailable until it is back`,
      );
    }
    this.state = 'down';
    this.reason ??= `${link} link closed`;
    this.metrics.brokerUp.set(0);
  }

  private async linkReady(link: Link): Promise<void> {
    if (this.stopped) return;
    const reconnect = this.runId !== '';
    if (reconnect) this.metrics.brokerReconnects.inc({ link });
    this.linkUp[link] = true;
    if (!this.linkUp.command || !this.linkUp.subscriber) return;
    const generation = ++this.generation;
    this.state = 'catching_up';
    this.reason = 'catching up';
    try {
      const info = await this.cmd.info('server');
      this.runId = /run_id:(\w+)/.exec(info)?.[1] ?? '';
      if (this.runId !== this.confirmedRun && !(await this.confirm(generation))) return;
      const channels = [this.nodeChannel, ...[...this.followed].map((t) => this.channel(t))];
      for (let i = 0; i < channels.length; i += RESUBSCRIBE_BATCH) {
        await this.sub.subscribe(...channels.slice(i, i + RESUBSCRIBE_BATCH));
        if (generation !== this.generation) return;
      }
      this.probeSeen = this.probeSent; // a probe sent before the outage is not waited for
      this.pendingTops = undefined; // nor the last seqs it read
      if (reconnect) await this.events.restored();
      if (generation !== this.generation) return;
      this.state = 'up';
      this.reason = undefined;
      this.metrics.brokerUp.set(1);
      this.log.info({ event: 'broker_up', broker: this.name, followed: this.followed.size, runId: this.runId }, 'redis broker up');
    } catch (err) {
      if (generation !== this.generation) return;
      this.error('recover', err);
      this.state = 'down';
      // both links look connected but recovery failed (a timeout): start over on a fresh link
      this.sub.disconnect(true);
    }
  }

  /**
   * Confirms the data of the Redis run this node just connected to (scripts.ts CONFIRM). When it
   * saw nothing of the run before (it started after Redis restarted), it waits for a node that
   * did to vouch, for at most twice --broker-timeout; then it renews every epoch: nobody can say
   * that nothing was lost. False when an outage interrupted it.
   */
  private async confirm(generation: number): Promise<boolean> {
    const deadline = Date.now() + 2 * Math.max(this.options.timeoutMs, 1000);
    for (;;) {
      const force = Date.now() >= deadline ? '1' : '0';
      const [verdict, wm] = await this.cmd.rcConfirm(
        this.options.prefix,
        this.runId,
        this.confirmedRun,
        this.seenWm,
        this.freshEpoch(),
        force,
      );
      if (generation !== this.generation) return false;
      if (verdict !== 'unknown') {
        this.metrics.brokerRunsConfirmed.inc({ verdict });
        if (verdict === 'renewed' || (verdict === 'new' && this.confirmedRun !== ''))
          this.log.warn(
            { event: 'broker_epochs_renewed', broker: this.name, verdict, seen: this.seenWm, redis: Number(wm), runId: this.runId },
            'redis lost data (or none of it could be vouched for): every topic gets a new epoch',
          );
        this.confirmedRun = this.runId;
        this.seenWm = Math.max(this.seenWm, Number(wm));
        return true;
      }
      await sleep(CONFIRM_RETRY_MS);
      if (generation !== this.generation) return false;
    }
  }

  /** A watermark Redis reported under the confirmed run. */
  private saw(wm: number): void {
    if (wm > this.seenWm) this.seenWm = wm;
  }

  /**
   * Every --broker-probe: a probe published through the command link to this node's own channel.
   * A link that is connected but answers or delivers nothing (a dead NAT entry, a half-open TCP
   * connection: centrifugo#1189) is dropped and made again, and the catch-up then recovers what it
   * missed: the command link when the PUBLISH times out, the subscription link when the probe has
   * not come back after --broker-timeout. Also asks Redis for the last seq of every followed topic,
   * which shows a lost tail message.
   */
  private probe(): void {
    if (this.state !== 'up') return;
    const now = Date.now();
    if (this.probeSeen < this.probeSent) {
      if (now - this.probeSentAt >= this.options.timeoutMs) this.stale('subscriber', now - this.probeSentAt);
      return;
    }
    this.probeSentAt = now;
    const generation = this.generation;
    const probe = ++this.probeSent;
    // the read goes out first on the command link, the probe after it: Redis runs them in that
    // order, so the probe's message reaches the subscription link behind every channel message
    // published before the read
    void this.checkTops(probe);
    this.cmd.publish(this.nodeChannel, `n${probe}`).catch((err: unknown) => {
      this.error('probe', err);
      if (generation === this.generation && /timed out/i.test(String(err))) this.stale('command', Date.now() - now);
    });
    this.cmd.rcSweep(this.options.prefix, this.ttlMs(), SWEEP_BATCH).catch((err: unknown) => this.error('sweep', err));
  }

  private stale(link: Link, waitedMs: number): void {
    this.metrics.brokerStaleLinks.inc({ link });
    this.log.warn({ event: 'broker_stale_link', broker: this.name, link, waitedMs }, `redis ${link} link answers nothing: reconnecting it`);
    this.reason = `${link} link stale`;
    this.linkLost(link);
    (link === 'command' ? this.cmd : this.sub).disconnect(true);
  }

  /**
   * At most CHECK_BATCH topics per probe, round robin: with many topics each is checked every
   * few minutes instead of flooding Redis with one HMGET per topic every probe. The seqs read are
   * handed to the hub only once `probe` has come back on the subscription link (tellTops): a
   * seq compared before the link delivered what precedes it would look like a lost message
   * whenever the link runs late, and the repair that followed could skip messages still coming.
   */
  private async checkTops(probe: number): Promise<void> {
    const all = [...this.events.followed()];
    if (this.checkCursor >= all.length) this.checkCursor = 0;
    const topics = all.slice(this.checkCursor, this.checkCursor + CHECK_BATCH);
    this.checkCursor += topics.length;
    const run = this.confirmedRun;
    const generation = this.generation;
    const pipeline = this.cmd.pipeline();
    // the watermark too: what this node can vouch for after a restart is at most a probe old
    pipeline.get(`${this.options.prefix}:wm`);
    for (const t of topics) pipeline.hmget(this.key(t, 'meta'), 's', 'e');
    try {
      const [wm, ...results] = (await pipeline.exec()) ?? [];
      if (wm !== undefined && wm[0] === null && run === this.confirmedRun && this.state === 'up') this.saw(Number(wm[1] ?? 0));
      const tops: [string, number, string | null][] = [];
      results.forEach(([err, value], i) => {
        if (err !== null) return;
        const [s, e] = value as [string | null, string | null];
        tops.push([topics[i]!, Number(s ?? 0), e]);
      });
      if (generation !== this.generation) return;
      this.pendingTops = { probe, generation, tops };
      this.tellTops();
    } catch (err) {
      this.error('check', err);
    }
  }

  /** Hands the hub the seqs a probe read, once that probe has come back (checkTops). */
  private tellTops(): void {
    const pending = this.pendingTops;
    if (pending === undefined || this.probeSeen < pending.probe) return;
    this.pendingTops = undefined;
    if (pending.generation !== this.generation) return; // an outage since: the catch-up checks every topic
    for (const [topic, seq, epoch] of pending.tops) this.events.top(topic, seq, epoch);
  }

  // ---- channel messages ----

  private onChannelMessage(channel: Buffer, message: Buffer): void {
    const kind = message[0];
    if (kind === 0x6d /* m */) return this.onMessage(channel, message);
    if (kind === 0x70 /* p */) return this.onPresence(channel, message);
    if (kind === 0x6e /* n: a probe on the node channel */) {
      this.probeSeen = Math.max(this.probeSeen, Number(message.toString('latin1', 1)));
      this.tellTops();
    }
  }

  /** "m<seq> <epoch> <node>/<conn> <data>" */
  private onMessage(channel: Buffer, message: Buffer): void {
    const topic = this.topicOf(channel);
    const f = topic === undefined ? undefined : fields(message);
    if (f === undefined) return this.error('decode', new Error('malformed channel message'));
    const [seq, epoch, origin, data] = f;
    this.events.publication(topic!, Number(seq), epoch, data, this.localConn(origin));
  }

  /** "p<join|leave> <node>/<conn> <client> <user>" */
  private onPresence(channel: Buffer, message: Buffer): void {
    const topic = this.topicOf(channel);
    const f = topic === undefined ? undefined : fields(message);
    if (f === undefined) return this.error('decode', new Error('malformed presence message'));
    const [op, origin, client, user] = f;
    if (origin.startsWith(`${this.nodeId}/`)) return; // this node announced it already
    if (op !== 'join' && op !== 'leave') return;
    this.events.presence(topic!, op, client, user.toString('utf8'));
  }

  /** The local connection an origin names, or -1 when it is another node's. */
  private localConn(origin: string): number {
    const slash = origin.indexOf('/');
    return origin.slice(0, slash) === this.nodeId ? Number(origin.slice(slash + 1)) : -1;
  }

  // ---- requests ----

  async publish(topic: string, data: Uint8Array, origin: number, key: string | undefined): Promise<Published> {
    this.mustBeUp();
    const o = this.options;
    const keyed = key !== undefined && o.idempotencyTtlMs > 0;
    const run = this.runId;
    try {
      const [seq, epoch, duplicate, nodes, wm] = await this.cmd.rcPublish(
        this.key(topic, 'meta'),
        this.key(topic, 'stream'),
        this.key(topic, 'keys'),
        this.key(topic, 'kx'),
        o.prefix,
        topic,
        Buffer.from(data.buffer, data.byteOffset, data.byteLength),
        run,
        this.freshEpoch(),
        o.history,
        this.ttlMs(),
        o.maxTopics,
        o.maxHistoryBytes,
        `${this.nodeId}/${origin}`,
        keyed ? key : '',
        keyed ? o.idempotencyTtlMs : 0,
        this.channel(topic),
      );
      if (run === this.confirmedRun) this.saw(Number(wm));
      return { seq: Number(seq), epoch: String(epoch), duplicate: Number(duplicate) === 1, nodes: Number(nodes) };
    } catch (err) {
      if (/RINGCAST_TOPIC_LIMIT/.test(String(err)))
        throw new BrokerTopicLimitError(`cannot publish to ${topic}: ${o.maxTopics} topics exist, all with subscribers`);
      throw this.failure('publish', err);
    }
  }

  async follow(topic: string): Promise<void> {
    this.followed.add(topic);
    this.mustBeUp();
    try {
      await this.sub.subscribe(this.channel(topic));
    } catch (err) {
      throw this.failure('subscribe', err);
    }
  }

  unfollow(topic: string): void {
    if (!this.followed.delete(topic) || !this.linkUp.subscriber) return;
    this.sub.unsubscribe(this.channel(topic)).catch((err: unknown) => this.error('unsubscribe', err));
    // kept --history-ttl from now, so a subscriber that comes back in time recovers
    if (this.ready) this.cmd.rcTouch(this.options.prefix, topic).catch((err: unknown) => this.error('touch', err));
  }

  /** `create` remakes a record Redis lost under this node's subscribers (scripts.ts READ). */
  async read(topic: string, after: number | 'newest', count: number, create: boolean, bytes: number): Promise<TopicState> {
    this.mustBeUp(true);
    let reply: (Buffer | number | null)[];
    try {
      reply = await this.cmd.rcReadBuffer(
        this.key(topic, 'meta'),
        this.key(topic, 'stream'),
        this.options.prefix,
        this.runId,
        this.freshEpoch(),
        after === 'newest' ? '-1' : after,
        count,
        bytes,
        topic,
        create ? '1' : '0',
        this.options.maxTopics,
      );
    } catch (err) {
      throw this.failure('read', err);
    }
    const epoch = reply[1] === null || reply[1] === undefined ? null : String(reply[1]);
    const messages: { seq: number; data: Buffer }[] = [];
    for (let i = 5; i + 1 < reply.length; i += 2) {
      messages.push({ seq: Number.parseInt(String(reply[i]), 10), data: reply[i + 1] as Buffer });
    }
    const previous = reply[4] === null || String(reply[4]) === '' ? null : String(reply[4]);
    return { seq: Number(reply[0]), epoch, oldest: Number(reply[2]), base: Number(reply[3]), previous, messages };
  }

  presence(topic: string, op: 'join' | 'leave' | 'refresh', clients: readonly { client: string; user: string }[]): void {
    // while down: rebuilt from the hub's members when the broker is back, which it does while this
    // broker is still catching up (restored()): those writes must go through
    if ((this.state !== 'up' && this.state !== 'catching_up') || clients.length === 0) return;
    const args: string[] = [];
    for (const c of clients) args.push(c.client, c.user);
    this.cmd
      .rcPresence(
        this.key(topic, 'pz'),
        this.key(topic, 'pi'),
        this.options.presenceTtlMs,
        this.channel(topic),
        `${this.nodeId}/-1`,
        op,
        ...args,
      )
      .catch((err: unknown) => this.error('presence', err));
  }

  async presenceList(topic: string, limit: number): Promise<PresenceList> {
    this.mustBeUp();
    let reply: (string | number)[];
    try {
      reply = await this.cmd.rcPresenceList(this.key(topic, 'pz'), this.key(topic, 'pi'), limit);
    } catch (err) {
      throw this.failure('presence', err);
    }
    const clients: { client: string; user: string }[] = [];
    for (let i = 1; i + 1 < reply.length; i += 2) clients.push({ client: String(reply[i]), user: String(reply[i + 1]) });
    return { count: Number(reply[0]), clients };
  }

  // ---- helpers ----

  /**
   * Requests need the broker up; the hub's own catch-up reads also run while it is catching up.
   * The message reaches clients: the reason (which names hosts) stays in the log and /healthz.
   */
  private mustBeUp(catchingUp = false): void {
    if (this.state !== 'up' && !(catchingUp && this.state === 'catching_up'))
      throw new BrokerUnavailableError(`the broker is ${this.state}; retry later`);
  }

  /**
   * Counts and logs a failed command; the error to answer with. Its message reaches clients, so
   * it says what kind of failure it was, never the link error's text (hosts, addresses).
   */
  private failure(op: string, err: unknown): BrokerUnavailableError {
    this.error(op, err);
    const message = err instanceof Error ? err.message : String(err);
    if (/timed out/i.test(message))
      return new BrokerTimeoutError(
        `the broker did not answer within ${this.options.timeoutMs} ms; a publish may have happened: retry with the same key`,
      );
    if (/RINGCAST_UNCONFIRMED/.test(message)) return new BrokerUnavailableError('the broker is catching up after a restart; retry later');
    // Redis's own error reply (OOM past maxmemory, READONLY, ...) names no address: the client
    // is told it, so the refusal is loud; anything else (a socket error) stays in the log
    if (err instanceof ReplyError) return new BrokerRefusedError(`the broker refused: ${message.split('\n')[0]!.slice(0, 200)}`);
    return new BrokerUnavailableError('the broker failed; retry later');
  }

  private error(op: string, err: unknown): void {
    this.metrics.brokerErrors.inc({ op });
    this.log.warn(
      { event: 'broker_error', broker: this.name, op, err: err instanceof Error ? err.message : String(err) },
      `redis ${op} failed`,
    );
  }

  /**
   * An epoch the script takes only when it renews one. Unique per call (node id + counter), so
   * the same topic can never be renewed twice to the same epoch.
   */
  private freshEpoch(): string {
    return `${this.nodeId}${(++this.epochCount).toString(36)}`;
  }

  /** A record nobody follows lives this long after its last activity (--history-ttl, at least 1 s). */
  private ttlMs(): number {
    return Math.max(this.options.historyTtlMs, 1000);
  }

  private key(topic: string, part: string): string {
    return `${this.options.prefix}:{${topic}}:${part}`;
  }

  private channel(topic: string): string {
    return `${this.options.prefix}:{${topic}}`;
  }

  private topicOf(channel: Buffer): string | undefined {
    const text = channel.toString('latin1');
    const head = `${this.options.prefix}:{`;
    return text.startsWith(head) && text.endsWith('}') ? text.slice(head.length, -1) : undefined;
  }
}

/**
 * A channel message after its kind byte: three space-separated ASCII fields, then the rest
 * (message data or a user id) as bytes, not copied.
 */
function fields(message: Buffer): [string, string, string, Buffer] | undefined {
  const a = message.indexOf(0x20, 1);
  const b = a === -1 ? -1 : message.indexOf(0x20, a + 1);
  const c = b === -1 ? -1 : message.indexOf(0x20, b + 1);
  if (c === -1) return undefined;
  return [
    message.toString('latin1', 1, a),
    message.toString('latin1', a + 1, b),
    message.toString('latin1', b + 1, c),
    message.subarray(c + 1),
  ];
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
