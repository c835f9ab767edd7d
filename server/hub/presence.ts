// Who is in a topic, as events: a subscriber that asked for presence watches the topic's joins
// and leaves (presence-feed.ts bounds them per second), and the broker records each join and
// leave for every node; they are written again before they expire and after an outage.
// The `presence` request (the list) is a request handler of the hub; this is the event side.
import { performance } from 'node:perf_hooks';
import { settle, type SharedBroker } from '../broker/types.js';
import type { Config } from '../config.js';
import type { Metrics } from '../metrics.js';
import { encodePresenceEvent, encodePresenceSync } from '../protocol/encode.js';
import type { Conn } from './conn.js';
import { PresenceFeed } from './presence-feed.js';
import type { Topic } from './topic.js';
import type { TopicStore } from './topics.js';

/** Presence entries written to the broker in one batch. */
const PRESENCE_BATCH = 500;

/** What presence needs of the hub. */
export interface PresenceHub {
  readonly topics: TopicStore;
  conn(id: number): Conn | undefined;
  fanout(ids: Uint32Array, frame: Buffer, exclude: number): void;
}

export class Presence {
  /** feeds with a presence_sync timer armed, so stop() can disarm them */
  private readonly armedFeeds = new Set<PresenceFeed>();
  private refreshTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly config: Config,
    private readonly metrics: Metrics,
    private readonly broker: SharedBroker,
    /** the server's boot id: client ids are unique for its lifetime */
    private readonly bootId: string,
    private readonly hub: PresenceHub,
  ) {}

  /** Starts the broker's periodic refresh (call once the broker is up). */
  startRefresh(): void {
    if (!this.broker.keepsPresence) return;
    const every = Math.max(1000, Math.floor((this.config.presenceTtl * 1000) / 3));
    this.refreshTimer = setInterval(() => this.refresh(), every);
    this.refreshTimer.unref();
  }

  stop(): void {
    clearInterval(this.refreshTimer);
    for (const feed of this.armedFeeds) feed.stop();
    this.armedFeeds.clear();
  }

  /** The presence client id: unique for the server's lifetime. */
  clientId(conn: Conn): string {
    return `c${this.bootId}-${conn.serial.toString(36)}`;
  }

  /** `conn` receives join/leave events of `topic` (it is a member). */
  watch(conn: Conn, topic: Topic): void {
    if (conn.watching?.has(topic) === true) return;
    topic.feed ??= new PresenceFeed(this.config.presenceEvents);
    (conn.watching ??= new Map()).set(topic, topic.feed.watchers.add(conn.id));
  }

  unwatch(conn: Conn, topic: Topic): void {
    const index = conn.watching?.get(topic);
    if (index === undefined) return;
    const feed = topic.feed!;
    const moved = feed.watchers.removeAt(index);
    if (moved !== -1) this.hub.conn(moved)!.watching!.set(topic, index);
    conn.watching!.delete(topic);
    if (conn.watching!.size === 0) conn.watching = undefined;
    if (feed.watchers.count === 0) {
      feed.stop();
      this.armedFeeds.delete(feed);
      topic.feed = undefined;
    }
  }

  /** `conn` joined or left `topic`: its watchers here are told, and the broker records it for every node. */
  present(op: 'join' | 'leave', conn: Conn, topic: Topic): void {
    const client = this.clientId(conn);
    if (this.broker.keepsPresence) this.broker.presence(topic.name, op, [{ client, user: conn.user }]);
    this.announce(op, topic, client, conn.user, conn.id);
  }

  /** One join/leave event to the topic's watchers but `exclude`, within --presence-events per second. */
  announce(op: 'join' | 'leave', topic: Topic, client: string, user: string, exclude: number): void {
    const feed = topic.feed;
    if (feed === undefined || feed.watchers.count === 0) return;
    const now = performance.now();
    if (feed.admit(now)) {
      this.hub.fanout(feed.watchers.view(), encodePresenceEvent(op, topic.json, client, user), exclude);
      return;
    }
    if (feed.syncTimer !== undefined) return;
    this.armedFeeds.add(feed);
    feed.syncTimer = setTimeout(
      () => {
        feed.syncTimer = undefined;
        this.armedFeeds.delete(feed);
        const dropped = feed.dropped;
        feed.dropped = 0;
        this.metrics.presenceEventsDropped.inc(dropped);
        if (topic.feed !== feed || feed.watchers.count === 0) return;
        const send = (count: number) => {
          if (topic.feed === feed && feed.watchers.count > 0)
            this.hub.fanout(feed.watchers.view(), encodePresenceSync(topic.json, count, dropped), -1);
        };
        // the count is every node's (the local one when the broker cannot say)
        const broker = this.broker;
        if (!broker.ready) return send(topic.members.count);
        void settle(
          () => broker.presenceList(topic.name, 0),
          (list) => send(list.count),
          () => send(topic.members.count),
        );
      },
      feed.windowLeft(now) + 1,
    );
    feed.syncTimer.unref();
  }

  /** Writes this node's presence entries again (before they expire; `all`: after an outage, ready or not yet). */
  refresh(all = false): void {
    const broker = this.broker;
    if (!broker.keepsPresence || (!broker.ready && !all)) return;
    const topics = this.hub.topics;
    for (const name of topics.names()) {
      const topic = topics.get(name)!;
      const ids = topic.members.view();
      for (let i = 0; i < ids.length; i += PRESENCE_BATCH) {
        const batch: { client: string; user: string }[] = [];
        for (const id of ids.subarray(i, i + PRESENCE_BATCH)) {
          const conn = this.hub.conn(id);
          if (conn !== undefined) batch.push({ client: this.clientId(conn), user: conn.user });
        }
        broker.presence(name, 'refresh', batch);
      }
    }
  }
}
