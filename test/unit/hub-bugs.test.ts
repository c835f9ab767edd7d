// Behaviour the hub unit suite found wrong and left for the lead to decide (issue 23 keeps
// hub.ts unchanged while its behaviour is pinned). Each case is skipped with its reason; remove
// the skip together with the fix, and it must pass.
import { afterEach, describe, expect, it } from 'vitest';
import { BrokerTimeoutError } from '../../server/broker/types.js';
import { FakeBroker } from '../helpers/fake-broker.js';
import { hubUnderTest, settle, type HubUnderTest } from '../helpers/fake-client.js';

const hubs: HubUnderTest[] = [];

afterEach(() => {
  for (const h of hubs.splice(0)) h.stop();
});

describe('hub (shared broker): known bugs', () => {
  // restored() ends with refreshPresence(true), which calls broker.presence(..., 'refresh') for
  // every member. The broker calls restored() while it is still catching_up (redis.ts linkReady)
  // and RedisBroker.presence() drops every write while not ready (redis.ts: `if (!this.ready ...)
  // return`), as this fake does. So the rewrite after an outage never reaches Redis: after an
  // outage longer than --presence-ttl (every entry of the node expired in Redis) the node's
  // clients are missing from every node's presence list until the periodic refresh, up to
  // --presence-ttl / 3 (20 s by default) after the broker is back.
  it.skip('writes presence again when the broker is back (skipped: the rewrite is dropped while catching_up)', async () => {
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

  // A repair whose read fails leaves the topic 'stale' (hub.ts repair(): "hold what arrives until
  // it is back (restored() repairs again)"), and only restored() takes it out of that phase. But
  // restored() is called only when the broker's links come back after being lost (redis.ts
  // linkReady). A read can fail while the links stay up: one command past --broker-timeout
  // (ioredis commandTimeout rejects it and keeps the connection; the probe that follows may well
  // answer in time), or an error reply. The topic then stays stale for good: every later message
  // is held (and, past the hold bound, dropped), arrive() and the periodic top() check both skip a
  // topic that is not live, so its subscribers on this node receive nothing more, and new
  // subscribers are acked from the stale copy, until the link drops for another reason or the
  // topic is dropped.
  it.skip('repairs again after a failed read while the broker stays up (skipped: the topic stays stale)', async () => {
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
