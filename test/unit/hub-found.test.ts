// Two failures the hub unit suite found while pinning the hub's behaviour, each a room that goes
// silent after a fault; both cases failed before their fixes (hub.ts repair/arrive/checkTop, and
// RedisBroker.presence while catching up).
import { afterEach, describe, expect, it } from 'vitest';
import { BrokerTimeoutError } from '../../server/broker/types.js';
import { FakeBroker } from '../helpers/fake-broker.js';
import { hubUnderTest, settle, type HubUnderTest } from '../helpers/fake-client.js';

const hubs: HubUnderTest[] = [];

afterEach(() => {
  for (const h of hubs.splice(0)) h.stop();
});

describe('hub (shared broker): after a fault', () => {
  // restored() ends with refreshPresence(true), which calls broker.presence(..., 'refresh') for
  // every member. The broker calls restored() while it is still catching_up (redis.ts linkReady);
  // RedisBroker.presence() dropped every write until it was up, so after an outage longer than
  // --presence-ttl the node's clients were missing from every node's presence list until the
  // periodic refresh, up to --presence-ttl / 3 (20 s by default) after the broker was back.
  it('writes presence again when the broker is back, while it is still catching up', async () => {
    const broker = new FakeBroker();
    const h = await hubUnderTest({}, broker);
    hubs.push(h);
    const a = h.connect({ user: 'alice' });
    a.send({ op: 'sub', topic: 'room', presence: true, id: 1 });
    await settle();
    broker.down();
    broker.present.clear(); // a long outage: every entry of this node expired in Redis
    await broker.up();
    await settle();
    const users = [...(broker.present.get('room') ?? new Map<string, string>()).values()];
    expect(users).toEqual(['alice']);
  });

  // A repair whose read fails leaves the topic 'stale', and only restored() took it out of that
  // phase — which comes only when the broker's links come back after being lost. A read can fail
  // while the links stay up: one command past --broker-timeout (ioredis rejects it and keeps the
  // connection), or an error reply. The topic then stayed stale for good: later messages held
  // (past the hold bound, dropped), arrive() and the periodic check both skipped it, and its
  // subscribers on this node received nothing more.
  it('repairs again after a failed read while the broker stays up', async () => {
    const broker = new FakeBroker();
    const h = await hubUnderTest({}, broker);
    hubs.push(h);
    const a = h.connect();
    a.send({ op: 'sub', topic: 't', id: 1 });
    await settle();
    broker.publishElsewhere('t', 1);
    broker.autoDeliver = false;
    for (let i = 2; i <= 4; i++) broker.publishElsewhere('t', i);
    broker.gate('read');
    broker.deliver('t', 3); // a gap: 2 is read back
    await settle();
    broker.take('read').fail(new BrokerTimeoutError('the broker did not answer within 1000 ms'));
    broker.ungate('read');
    await settle();
    expect(broker.ready).toBe(true); // the links never dropped: no restored() will come
    broker.deliver('t', 4);
    const epoch = broker.topics.get('t')!.epoch;
    broker.events.top('t', 4, epoch); // the periodic check, twice (--broker-probe)
    broker.events.top('t', 4, epoch);
    await settle();
    expect(
      a
        .take()
        .filter((f) => f.op === 'msg')
        .map((f) => f.seq),
    ).toEqual([1, 2, 3, 4]);
  });
});
