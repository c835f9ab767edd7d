// Behaviour the hub unit suite found wrong and left for the lead to decide (issue 23 keeps
// hub.ts unchanged while its behaviour is pinned). Each case is skipped with its reason; remove
// the skip together with the fix, and it must pass.
import { afterEach, describe, expect, it } from 'vitest';
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
});
