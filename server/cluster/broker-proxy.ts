// A worker thread's broker: the main thread's one broker (memory or redis) seen through the
// worker's link to the main thread (main-link.ts). The worker's hub talks to it exactly as it
// does to Redis: a publish is numbered on the main thread, and every worker, the publishing one
// included, delivers what comes back, checked for order. It answers later (a message to the main
// thread and back), whichever broker is there.
import {
  type BrokerEvents,
  type BrokerHealth,
  type PresenceList,
  type Published,
  type SharedBroker,
  type TopicState,
} from '../broker/types.js';
import { bufferOf, type MainLink } from './main-link.js';

export class BrokerProxy implements SharedBroker {
  readonly name: string;
  /** the main thread's broker keeps every worker's presence */
  readonly keepsPresence = true;
  private stopped = false;

  constructor(
    private readonly link: MainLink,
    /** the main thread's broker is the in-process one: a capability it declares, passed on */
    readonly inProcess: boolean,
  ) {
    this.name = link.cluster.broker.broker;
  }

  get ready(): boolean {
    return !this.stopped && this.link.cluster.broker.state === 'up';
  }

  health(): BrokerHealth {
    return this.link.cluster.broker;
  }

  start(events: BrokerEvents): Promise<void> {
    this.link.brokerEvents = events;
    return Promise.resolve();
  }

  stop(): Promise<void> {
    this.stopped = true;
    this.link.close();
    return Promise.resolve();
  }

  publish(topic: string, data: Uint8Array, origin: number, key: string | undefined): Promise<Published> {
    // a copy of exactly these bytes: a view would clone the whole buffer it looks into
    return this.link.call({ m: 'publish', topic, data: new Uint8Array(data), conn: origin, key }) as Promise<Published>;
  }

  follow(topic: string): Promise<void> {
    return this.link.call({ m: 'follow', topic }) as Promise<void>;
  }

  unfollow(topic: string): void {
    this.link.queue({ k: 'unfollow', topic });
  }

  async read(topic: string, after: number | 'newest', count: number, create: boolean, bytes: number): Promise<TopicState> {
    const state = (await this.link.call({ m: 'read', topic, after, count, create, bytes })) as TopicState;
    // structured clone turns a Buffer into a plain Uint8Array
    for (const m of state.messages) m.data = bufferOf(m.data);
    return state;
  }

  presence(topic: string, op: 'join' | 'leave' | 'refresh', clients: readonly { client: string; user: string }[]): void {
    this.link.queue({ k: 'presence', topic, op, clients: clients.slice() });
  }

  presenceList(topic: string, limit: number): Promise<PresenceList> {
    return this.link.call({ m: 'presenceList', topic, limit }) as Promise<PresenceList>;
  }

  members(topic: string, count: number): void {
    this.link.queue({ k: 'members', topic, count });
  }

  deflating(on: boolean): void {
    this.link.queue({ k: 'deflating', on });
  }

  /** The main thread's broker reconnected: repair every held topic. */
  restored(): Promise<void> {
    return this.link.brokerEvents?.restored() ?? Promise.resolve();
  }
}
