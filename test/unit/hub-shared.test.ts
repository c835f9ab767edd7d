// The hub with a shared broker that numbers messages (Redis, or the main thread of --workers),
// here a FakeBroker the test drives by hand (test/helpers/fake-broker.ts): late and failed
// answers, channel messages out of order or missing, lost topics and new epochs, outages. What is
// pinned is what clients see (docs/protocol.md, docs/scaling.md) and what the hub asks of the
// broker through server/broker/types.ts, not how the hub keeps its replica of a topic.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { BrokerTimeoutError, BrokerTopicLimitError } from '../../server/broker/types.js';
import { FakeBroker } from '../helpers/fake-broker.js';
import { hubUnderTest, settle, type FakeClient, type HubUnderTest } from '../helpers/fake-client.js';

let h: HubUnderTest;
let broker: FakeBroker;
const hubs: HubUnderTest[] = [];

async function start(overrides: Parameters<typeof hubUnderTest>[0] = {}): Promise<void> {
  broker = new FakeBroker();
  h = await hubUnderTest(overrides, broker);
  hubs.push(h);
}

afterEach(async () => {
  vi.useRealTimers();
  for (const x of hubs.splice(0)) {
    await settle();
    x.stop();
    expect(x.transport.strays).toEqual([]);
  }
});

const inFlight = () => h.metric('ringcast_broker_requests_in_flight');
const inFlightBytes = () => h.metric('ringcast_broker_request_bytes_in_flight');

/** A connection subscribed to `topic`, its sub answered; returns the client and its ack. */
async function subscribed(topic: string, extra: object = {}): Promise<{ c: FakeClient; ack: ReturnType<FakeClient['take']>[0] }> {
  const c = h.connect();
  c.send({ op: 'sub', topic, id: 's', ...extra });
  await settle();
  const frames = c.take();
  const ack = frames.find((f) => f.id === 's')!;
  expect(ack).toMatchObject({ op: 'ack' });
  return { c, ack };
}

describe('hub (shared broker): the first sub of a topic', () => {
  it('follows the topic, reads its tail, then acks with the broker seq and epoch', async () => {
    await start();
    broker.publishElsewhere('t', 'one');
    broker.publishElsewhere('t', 'two');
    const epoch = broker.topics.get('t')!.epoch;
    const a = h.connect();
    a.send({ op: 'sub', topic: 't', id: 1 });
    expect(a.take()).toEqual([]); // answered once the broker's tail is here
    await settle();
    expect(a.take()).toEqual([{ op: 'ack', id: 1, topic: 't', seq: 2, epoch }]);
    expect(broker.calls.filter((c) => /^(follow|read)/.test(c))).toEqual(['follow t', 'read t newest']);
  });

  it('acks epoch "" for a topic never published, and its first publish arrives as seq 1 without a resync', async () => {
    await start();
    const { c, ack } = await subscribed('t');
    expect(ack).toMatchObject({ seq: 0, epoch: '' });
    broker.publishElsewhere('t', 'first');
    expect(c.take()).toEqual([{ op: 'msg', topic: 't', seq: 1, data: 'first' }]);
    expect(broker.topics.has('t')).toBe(true); // made by the publish, never by the subscription
  });

  it('resumes a client told "" in the first epoch: recovered, and its ack keeps ""', async () => {
    await start();
    await subscribed('t'); // keeps the topic followed
    broker.publishElsewhere('t', 1);
    broker.publishElsewhere('t', 2);
    const b = h.connect();
    b.send({ op: 'sub', topic: 't', since: 1, epoch: '', id: 1 });
    expect(b.take()).toEqual([
      { op: 'ack', id: 1, topic: 't', seq: 2, epoch: '', recovered: true },
      { op: 'msg', topic: 't', seq: 2, data: 2 },
    ]);
  });

  it('replays from the broker copy with since and epoch', async () => {
    await start();
    for (let i = 1; i <= 4; i++) broker.publishElsewhere('t', i);
    const epoch = broker.topics.get('t')!.epoch;
    const a = h.connect();
    a.send({ op: 'sub', topic: 't', since: 2, epoch, id: 1 });
    await settle();
    expect(a.take()).toEqual([
      { op: 'ack', id: 1, topic: 't', seq: 4, epoch, recovered: true },
      { op: 'msg', topic: 't', seq: 3, data: 3 },
      { op: 'msg', topic: 't', seq: 4, data: 4 },
    ]);
  });

  it('merges what arrives on the channel while the tail is read: no gap, no duplicate', async () => {
    await start();
    broker.publishElsewhere('t', 1);
    broker.autoDeliver = false;
    broker.gate('read', 'at-call'); // the tail (seq 1) is read now, its reply comes late
    const a = h.connect();
    a.send({ op: 'sub', topic: 't', since: 0, id: 1 });
    await settle();
    broker.publishElsewhere('t', 2);
    broker.publishElsewhere('t', 3);
    broker.deliver('t'); // 2 and 3 arrive before the read's reply
    broker.take('read').answer();
    await settle();
    expect(a.take().map((f) => [f.op, f.seq])).toEqual([
      ['ack', 1],
      ['msg', 1],
      ['msg', 2],
      ['msg', 3],
    ]);
  });

  it('answers later subs of a syncing topic together, in order, from one follow', async () => {
    await start();
    broker.gate('read', 'at-call'); // the tail as it was when asked: before seq 1
    const a = h.connect();
    const b = h.connect();
    a.send({ op: 'sub', topic: 't', id: 1 });
    b.send({ op: 'sub', topic: 't', id: 2 });
    a.send({ op: 'ping', id: 3 }); // not held up by the sub
    await settle();
    expect(a.take()).toEqual([{ op: 'ack', id: 3 }]);
    broker.take('read').answer();
    await settle();
    expect(a.take()).toMatchObject([{ op: 'ack', id: 1, seq: 0 }]);
    expect(b.take()).toMatchObject([{ op: 'ack', id: 2, seq: 0 }]);
    expect(broker.calls.filter((c) => c.startsWith('follow'))).toEqual(['follow t']);
  });

  it('answers a sub overtaken by an unsub with not_subscribed, then acks the unsub', async () => {
    await start();
    broker.gate('read', 'at-call'); // the tail as it was when asked: before seq 1
    const a = h.connect();
    a.send({ op: 'sub', topic: 't', id: 1 });
    await settle();
    a.send({ op: 'unsub', topic: 't', id: 2 });
    expect(a.take().map((f) => [f.op, f.id, f.code])).toEqual([
      ['err', 1, 'not_subscribed'],
      ['ack', 2, undefined],
    ]);
    broker.take('read').answer();
    await settle();
    expect(a.take()).toEqual([]);
  });

  it('never answers a waiting sub of a connection that closed, and serves the others', async () => {
    await start();
    broker.gate('read', 'at-call'); // the tail as it was when asked: before seq 1
    const a = h.connect();
    const b = h.connect();
    a.send({ op: 'sub', topic: 't', id: 1 });
    b.send({ op: 'sub', topic: 't', id: 2 });
    await settle();
    a.disconnect();
    broker.take('read').answer();
    await settle();
    expect(b.take()).toMatchObject([{ op: 'ack', id: 2 }]);
    broker.publishElsewhere('t', 1);
    expect(b.takeMsgs()).toEqual([[1, 1]]);
    // strays (frames to the closed connection) are checked in afterEach
  });

  it('fails a sub whose follow failed with unavailable, and drops the topic', async () => {
    await start();
    broker.gate('follow');
    const a = h.connect();
    const b = h.connect({ topics: ['t'] });
    a.send({ op: 'sub', topic: 't', id: 1 });
    broker.take('follow').fail();
    await settle();
    expect(a.take()).toEqual([
      { op: 'err', id: 1, code: 'unavailable', msg: 'subscription to t failed: the broker is unavailable; retry later' },
    ]);
    expect(b.take().map((f) => [f.op, f.id, f.code])).toEqual([['err', undefined, 'unavailable']]);
    expect(h.hub.topicCount).toBe(0);
  });

  it('fails a sub with topic_limit when the broker is at --max-topics', async () => {
    await start();
    broker.gate('read', 'at-call'); // the tail as it was when asked: before seq 1
    const a = h.connect();
    a.send({ op: 'sub', topic: 't', id: 1 });
    await settle();
    broker.take('read').fail(new BrokerTopicLimitError('cannot create t: 1 topics exist, all with subscribers'));
    await settle();
    expect(a.take()).toMatchObject([{ op: 'err', id: 1, code: 'topic_limit' }]);
  });
});

describe('hub (shared broker): publish', () => {
  it('publishes through the broker and delivers what comes back on the channel', async () => {
    await start();
    const { c: a } = await subscribed('t');
    const { c: b } = await subscribed('t');
    a.send({ op: 'pub', topic: 't', data: { x: 1 }, id: 1 });
    await settle();
    expect(a.take()).toEqual([
      { op: 'msg', topic: 't', seq: 1, data: { x: 1 } },
      { op: 'ack', id: 1, topic: 't', seq: 1, subscribers: 1 }, // nodes, not connections
    ]);
    expect(b.takeMsgs()).toEqual([[1, { x: 1 }]]);
    expect(broker.calls).toContain('publish t origin=-1');
  });

  it('may ack before the publisher own msg (the reply outruns the channel)', async () => {
    await start();
    const { c: a } = await subscribed('t');
    broker.autoDeliver = false;
    a.send({ op: 'pub', topic: 't', data: 1, id: 1 });
    await settle();
    expect(a.take()).toEqual([{ op: 'ack', id: 1, topic: 't', seq: 1, subscribers: 1 }]);
    broker.deliver('t');
    expect(a.takeMsgs()).toEqual([[1, 1]]);
  });

  it('names the publisher as origin with "echo":false, and it alone is skipped', async () => {
    await start();
    const { c: a } = await subscribed('t');
    const { c: b } = await subscribed('t');
    a.send({ op: 'pub', topic: 't', data: 1, echo: false, id: 1 });
    await settle();
    expect(broker.calls).toContain(`publish t origin=${a.id}`);
    expect(a.take()).toEqual([{ op: 'ack', id: 1, topic: 't', seq: 1, subscribers: 1 }]);
    expect(b.takeMsgs()).toEqual([[1, 1]]);
  });

  it('excludes nobody for a publisher that is not subscribed, even with "echo":false', async () => {
    await start();
    const p = h.connect();
    p.send({ op: 'pub', topic: 't', data: 1, echo: false, id: 1 });
    await settle();
    expect(broker.calls).toContain('publish t origin=-1');
  });

  it('answers a repeated key duplicate with the first seq and delivers once', async () => {
    await start();
    const { c: a } = await subscribed('t');
    a.send({ op: 'pub', topic: 't', data: 'once', key: 'k', id: 1 });
    await settle();
    a.send({ op: 'pub', topic: 't', data: 'once', key: 'k', id: 2 });
    await settle();
    expect(a.take()).toEqual([
      { op: 'msg', topic: 't', seq: 1, data: 'once' },
      { op: 'ack', id: 1, topic: 't', seq: 1, subscribers: 1 },
      { op: 'ack', id: 2, topic: 't', seq: 1, subscribers: 0, duplicate: true },
    ]);
    expect(broker.calls.filter((c) => c.startsWith('publish'))).toEqual(['publish t origin=-1 key=k', 'publish t origin=-1 key=k']);
    expect(await h.metric('ringcast_duplicate_publishes_total')).toBe(1);
  });

  it('answers POST /publish (hub.publish) with the broker reply', async () => {
    await start();
    await subscribed('t');
    await expect(h.hub.publish('t', Buffer.from('"x"'), -1, 'http', 'k')).resolves.toEqual({
      ok: true,
      seq: 1,
      subscribers: 1,
      duplicate: false,
    });
    await expect(h.hub.publish('t', Buffer.from('"x"'), -1, 'http', 'k')).resolves.toEqual({
      ok: true,
      seq: 1,
      subscribers: 0,
      duplicate: true,
    });
  });
});

describe('hub (shared broker): order, gap repair and resync', () => {
  it('drops a seq it delivered already', async () => {
    await start();
    const { c: a } = await subscribed('t');
    broker.publishElsewhere('t', 1);
    broker.inject({ topic: 't', seq: 1, epoch: broker.topics.get('t')!.epoch, data: Buffer.from('1'), origin: -1 });
    await settle();
    expect(a.takeMsgs()).toEqual([[1, 1]]);
  });

  it('reads a missing seq back from the broker and delivers in order', async () => {
    await start();
    const { c: a } = await subscribed('t');
    broker.autoDeliver = false;
    for (let i = 1; i <= 4; i++) broker.publishElsewhere('t', i);
    broker.drop('t', 2);
    broker.deliver('t'); // 1, 3, 4
    await settle();
    expect(a.takeMsgs()).toEqual([
      [1, 1],
      [2, 2],
      [3, 3],
      [4, 4],
    ]);
    expect(broker.calls).toContain('read t 1 create');
    expect(await h.metric('ringcast_broker_catchups_total')).toBe(1);
  });

  it('puts messages that arrive out of order back in order', async () => {
    await start();
    const { c: a } = await subscribed('t');
    broker.publishElsewhere('t', 1); // the topic's first: seq 1 of its epoch
    broker.autoDeliver = false;
    for (let i = 2; i <= 5; i++) broker.publishElsewhere('t', i);
    broker.deliver('t', 4, 2, 5, 3);
    await settle();
    expect(a.takeMsgs().map(([s]) => s)).toEqual([1, 2, 3, 4, 5]);
  });

  it('holds what arrives during a repair and delivers it after the messages read back', async () => {
    await start();
    const { c: a } = await subscribed('t');
    broker.publishElsewhere('t', 1);
    broker.autoDeliver = false;
    for (let i = 2; i <= 3; i++) broker.publishElsewhere('t', i);
    broker.gate('read', 'at-call');
    broker.deliver('t', 3); // gap: 2 is read back (its reply is late)
    await settle();
    broker.publishElsewhere('t', 4);
    broker.publishElsewhere('t', 5);
    broker.deliver('t', 5, 4); // held meanwhile
    expect(a.takeMsgs().map(([s]) => s)).toEqual([1]);
    broker.ungate('read'); // a second read may follow (5 arrived before 4)
    broker.take('read').answer();
    await settle();
    expect(a.takeMsgs().map(([s]) => s)).toEqual([2, 3, 4, 5]);
  });

  it('reads a long gap back page by page (a read is bounded in bytes)', async () => {
    await start({ maxOutbound: 1024 }); // a read of a topic copy brings at most 1024 bytes
    const { c: a } = await subscribed('t');
    broker.publishElsewhere('t', 0);
    broker.autoDeliver = false;
    for (let i = 1; i <= 10; i++) broker.publishElsewhere('t', 'x'.repeat(300));
    broker.drop('t', 2, 3, 4, 5, 6, 7, 8, 9, 10);
    broker.deliver('t'); // 11 shows the gap
    await settle();
    expect(a.takeMsgs().map(([s]) => s)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    expect(broker.calls.filter((c) => c.startsWith('read t ') && c !== 'read t newest').length).toBeGreaterThan(2);
  });

  it('drops what it holds past its bound and reads it all back instead', async () => {
    await start({ maxOutbound: 1024 });
    const { c: a } = await subscribed('t');
    broker.publishElsewhere('t', 0);
    broker.autoDeliver = false;
    for (let i = 2; i <= 12; i++) broker.publishElsewhere('t', 'y'.repeat(300));
    broker.gate('read');
    broker.deliver('t', 3); // a gap: the repair's read waits
    await settle();
    broker.deliver('t'); // 2, 4..12 held meanwhile: more than 1024 bytes
    broker.ungate('read');
    broker.take('read').answer();
    await settle();
    expect(a.takeMsgs().map(([s]) => s)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
  });

  it('reads back what it could not hold while the first sub was syncing', async () => {
    await start({ maxOutbound: 1024 });
    broker.autoDeliver = false;
    broker.gate('read', 'at-call'); // the tail is read at seq 0, the reply is late
    const a = h.connect();
    a.send({ op: 'sub', topic: 't', id: 1 });
    await settle();
    for (let i = 1; i <= 8; i++) broker.publishElsewhere('t', 'z'.repeat(300));
    broker.deliver('t'); // more than 1024 bytes arrive before the reply
    broker.ungate('read');
    broker.take('read').answer();
    await settle();
    const frames = a.take();
    expect(frames[0]).toMatchObject({ op: 'ack', id: 1, seq: 0 });
    expect(frames.slice(1).map((f) => f.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
  });

  it('sends a resync when the gap is older than the broker history, then the messages it still has', async () => {
    await start();
    const { c: a } = await subscribed('t');
    broker.history = 2;
    broker.publishElsewhere('t', 1);
    broker.autoDeliver = false;
    for (let i = 2; i <= 5; i++) broker.publishElsewhere('t', i);
    broker.drop('t', 2, 3, 4);
    broker.deliver('t'); // 5: the broker retains 4 and 5 only
    await settle();
    const epoch = broker.topics.get('t')!.epoch;
    expect(a.take()).toEqual([
      { op: 'msg', topic: 't', seq: 1, data: 1 },
      { op: 'resync', topic: 't', epoch, seq: 3 },
      { op: 'msg', topic: 't', seq: 4, data: 4 },
      { op: 'msg', topic: 't', seq: 5, data: 5 },
    ]);
    expect(await h.metric('ringcast_broker_resyncs_total')).toBe(1);
  });

  it('sends a resync naming the new epoch when the broker lost the topic', async () => {
    await start();
    const { c: a } = await subscribed('t');
    broker.publishElsewhere('t', 1);
    broker.publishElsewhere('t', 2);
    const old = broker.topics.get('t')!.epoch;
    broker.lose('t');
    broker.publishElsewhere('t', 'new'); // seq 1 of a new epoch
    await settle();
    const epoch = broker.topics.get('t')!.epoch;
    expect(epoch).not.toBe(old);
    expect(a.take()).toEqual([
      { op: 'msg', topic: 't', seq: 1, data: 1 },
      { op: 'msg', topic: 't', seq: 2, data: 2 },
      { op: 'resync', topic: 't', epoch, seq: 0 },
      { op: 'msg', topic: 't', seq: 1, data: 'new' },
    ]);
    // a new subscriber with the old position is told it does not hold
    const b = h.connect();
    b.send({ op: 'sub', topic: 't', since: 2, epoch: old, id: 1 });
    expect(b.take()[0]).toMatchObject({ op: 'ack', seq: 1, epoch, recovered: false });
  });

  it('delivers the rest of the previous epoch before the resync when the broker kept it', async () => {
    await start();
    const { c: a } = await subscribed('t');
    broker.publishElsewhere('t', 1);
    broker.autoDeliver = false;
    broker.publishElsewhere('t', 2); // stored, never published on the channel: then Redis died
    broker.drop('t', 2);
    const old = broker.topics.get('t')!.epoch;
    broker.renew('t'); // restarted from a snapshot holding 2: new epoch after seq 2
    broker.publishElsewhere('t', 3);
    broker.deliver('t');
    await settle();
    const epoch = broker.topics.get('t')!.epoch;
    expect(epoch).not.toBe(old);
    expect(a.take()).toEqual([
      { op: 'msg', topic: 't', seq: 1, data: 1 },
      { op: 'msg', topic: 't', seq: 2, data: 2 },
      { op: 'resync', topic: 't', epoch, seq: 2 },
      { op: 'msg', topic: 't', seq: 3, data: 3 },
    ]);
  });

  it('repairs on the periodic check when the broker is ahead twice in a row', async () => {
    await start();
    const { c: a } = await subscribed('t');
    broker.publishElsewhere('t', 1);
    broker.autoDeliver = false;
    broker.publishElsewhere('t', 2);
    broker.drop('t', 2); // the lost tail: nothing after it shows the gap
    const epoch = broker.topics.get('t')!.epoch;
    expect([...broker.events.followed()]).toEqual(['t']);
    broker.events.top('t', 2, epoch);
    await settle();
    expect(a.takeMsgs().map(([s]) => s)).toEqual([1]); // once may be a publish on its way
    broker.events.top('t', 2, epoch);
    await settle();
    expect(a.takeMsgs()).toEqual([[2, 2]]);
  });

  it('reads back a skipped tail when told it missed messages (a worker that fell behind)', async () => {
    await start();
    const { c: a } = await subscribed('t');
    broker.publishElsewhere('t', 1);
    broker.autoDeliver = false;
    broker.publishElsewhere('t', 2);
    broker.publishElsewhere('t', 3);
    broker.drop('t', 2, 3); // skipped: nothing after them shows the gap
    await settle();
    expect(a.takeMsgs()).toEqual([[1, 1]]);
    broker.events.missed('t');
    await settle();
    expect(a.takeMsgs()).toEqual([
      [2, 2],
      [3, 3],
    ]);
    broker.events.missed('t'); // nothing more was missed: nothing is delivered twice
    broker.events.missed('unknown');
    await settle();
    expect(a.take()).toEqual([]);
  });

  it('reads back what it missed while its first sub was syncing, once the sync is done', async () => {
    await start();
    broker.gate('read', 'at-call'); // the tail as it was when asked: before seq 1
    const a = h.connect();
    a.send({ op: 'sub', topic: 't', id: 's' });
    await settle();
    broker.autoDeliver = false;
    broker.publishElsewhere('t', 1);
    broker.drop('t', 1);
    broker.events.missed('t');
    broker.ungate('read');
    broker.take('read').answer();
    await settle();
    const frames = a.take();
    expect(frames.filter((f) => f.op === 'msg').map((f) => f.seq)).toEqual([1]);
  });

  it('resyncs at once when the periodic check finds the record gone', async () => {
    await start();
    const { c: a } = await subscribed('t');
    broker.publishElsewhere('t', 1);
    broker.lose('t');
    broker.events.top('t', 0, null);
    await settle();
    const epoch = broker.topics.get('t')!.epoch; // remade by the repair's read
    expect(a.take()).toEqual([
      { op: 'msg', topic: 't', seq: 1, data: 1 },
      { op: 'resync', topic: 't', epoch, seq: 0 },
    ]);
  });
});

describe('hub (shared broker): outages', () => {
  it('refuses sub, pub, history and presence with unavailable while the broker is down, holding no allowance', async () => {
    await start();
    broker.down();
    const a = h.connect();
    a.send({ op: 'sub', topic: 't', id: 1 });
    a.send({ op: 'pub', topic: 't', data: 1, id: 2 });
    a.send({ op: 'history', topic: 't', id: 3 });
    a.send({ op: 'presence', topic: 't', id: 4 });
    await settle();
    const frames = a.take();
    expect(frames.map((f) => [f.id, f.code])).toEqual([
      [1, 'unavailable'],
      [2, 'unavailable'],
      [3, 'unavailable'],
      [4, 'unavailable'],
    ]);
    // the state only: the reason (hosts, addresses) is for /healthz
    expect(frames[0]!.msg).toBe('cannot subscribe to t: the broker is down; retry later');
    expect(await inFlight()).toBe(0);
    expect(await inFlightBytes()).toBe(0);
    expect(await h.hub.publish('t', Buffer.from('1'))).toMatchObject({ ok: false, code: 'unavailable' });
  });

  it('tells a ?topics= subscription made while the broker is down', async () => {
    await start();
    broker.down();
    const a = h.connect({ topics: ['t'] });
    expect(a.take().map((f) => [f.op, f.id, f.code])).toEqual([['err', undefined, 'unavailable']]);
  });

  it('answers a failed publish unavailable and a timed-out one with its retry advice, releasing the allowance', async () => {
    await start();
    broker.gate('publish');
    const a = h.connect();
    a.send({ op: 'pub', topic: 't', data: 1, id: 1 });
    a.send({ op: 'pub', topic: 't', data: 2, id: 2 });
    a.send({ op: 'pub', topic: 't', data: 3, id: 3 });
    expect(await inFlight()).toBe(3);
    broker.take('publish').fail();
    broker
      .take('publish')
      .fail(new BrokerTimeoutError('the broker did not answer within 50 ms; a publish may have happened: retry with the same key'));
    broker.take('publish').fail(new BrokerTopicLimitError('cannot publish to t: 1 topics exist, all with subscribers'));
    await settle();
    expect(a.take()).toEqual([
      { op: 'err', id: 1, code: 'unavailable', msg: 'cannot publish: the broker is unavailable; retry later' },
      {
        op: 'err',
        id: 2,
        code: 'unavailable',
        msg: 'cannot publish: the broker did not answer within 50 ms; a publish may have happened: retry with the same key',
      },
      { op: 'err', id: 3, code: 'topic_limit', msg: 'cannot publish to t: 1 topics exist, all with subscribers' },
    ]);
    expect(await inFlight()).toBe(0);
    expect(await inFlightBytes()).toBe(0);
  });

  it('sends nothing for an answer that comes after its connection closed, and releases its allowance', async () => {
    await start();
    broker.gate('publish');
    broker.gate('read');
    broker.gate('presenceList');
    const a = h.connect();
    a.send({ op: 'pub', topic: 't', data: 1, id: 1 });
    a.send({ op: 'history', topic: 'u', id: 2 });
    a.send({ op: 'presence', topic: 'u', id: 3 });
    expect(await inFlight()).toBe(3);
    a.disconnect();
    for (const p of broker.pending.splice(0)) p.answer();
    await settle();
    expect(await inFlight()).toBe(0);
    expect(await inFlightBytes()).toBe(0);
    // strays (frames to the closed connection) are checked in afterEach
  });

  it('refuses with rate_limited past 256 requests waiting for the broker, and admits again once they are answered', async () => {
    await start();
    broker.gate('publish');
    const a = h.connect();
    for (let i = 0; i < 257; i++) a.send({ op: 'pub', topic: 't', data: i, id: i });
    expect(a.take()).toMatchObject([{ op: 'err', id: 256, code: 'rate_limited' }]);
    expect(await inFlight()).toBe(256);
    for (const p of broker.pending.splice(0)) p.answer();
    await settle();
    expect(await inFlight()).toBe(0);
    broker.ungate('publish');
    a.take();
    a.send({ op: 'pub', topic: 't', data: 'again', id: 'again' });
    await settle();
    expect(a.take()).toMatchObject([{ op: 'ack', id: 'again', seq: 257 }]);
  });

  it('refuses with rate_limited past --max-outbound bytes waiting for the broker', async () => {
    await start({ maxOutbound: 1024 });
    broker.gate('publish');
    const a = h.connect();
    a.send({ op: 'pub', topic: 't', data: 'x'.repeat(600), id: 1 });
    a.send({ op: 'pub', topic: 't', data: 'y'.repeat(600), id: 2 });
    expect(a.take()).toMatchObject([{ op: 'err', id: 2, code: 'rate_limited' }]);
    expect(await inFlightBytes()).toBe(602);
    broker.take('publish').answer();
    await settle();
    expect(a.take()).toMatchObject([{ op: 'ack', id: 1, seq: 1 }]);
    expect(await inFlightBytes()).toBe(0);
  });

  it('catches up every followed topic when the broker is back, then writes presence again', async () => {
    await start();
    const { c: a } = await subscribed('t');
    const { c: b } = await subscribed('u');
    broker.publishElsewhere('t', 1);
    broker.down();
    broker.autoDeliver = false;
    broker.publishElsewhere('t', 2); // published by another node while this one's link was down
    broker.publishElsewhere('u', 1);
    broker.channel.length = 0; // lost with the link
    broker.calls.length = 0;
    await broker.up();
    await settle();
    expect(a.takeMsgs()).toEqual([
      [1, 1],
      [2, 2],
    ]);
    expect(b.takeMsgs()).toEqual([[1, 1]]);
    expect(broker.calls.filter((c) => c.startsWith('presence'))).toEqual([
      expect.stringMatching(/^presence t refresh \S+$/),
      expect.stringMatching(/^presence u refresh \S+$/),
    ]);
  });

  it('holds what arrives after a repair could not reach the broker, and repairs when it is back', async () => {
    await start();
    const { c: a } = await subscribed('t');
    broker.publishElsewhere('t', 1);
    broker.autoDeliver = false;
    for (let i = 2; i <= 4; i++) broker.publishElsewhere('t', i);
    broker.gate('read');
    broker.deliver('t', 3); // a gap; its read fails
    await settle();
    broker.take('read').fail();
    await settle();
    broker.deliver('t', 4); // held; the links are up, so it retries the read, which fails too
    await settle();
    broker.take('read').fail();
    await settle();
    expect(a.takeMsgs().map(([s]) => s)).toEqual([1]);
    broker.ungate('read');
    broker.down();
    await broker.up();
    await settle();
    expect(a.takeMsgs().map(([s]) => s)).toEqual([2, 3, 4]);
  });
});

describe('hub (shared broker): reads', () => {
  it('reads history of a topic it does not hold from the broker', async () => {
    await start();
    for (let i = 1; i <= 3; i++) broker.publishElsewhere('t', i);
    const epoch = broker.topics.get('t')!.epoch;
    const a = h.connect();
    a.send({ op: 'history', topic: 't', since: 1, id: 1 });
    await settle();
    expect(a.take()).toEqual([
      {
        op: 'ack',
        id: 1,
        topic: 't',
        seq: 3,
        epoch,
        recovered: true,
        messages: [
          { seq: 2, data: 2 },
          { seq: 3, data: 3 },
        ],
        more: false,
      },
    ]);
    expect(h.hub.topicCount).toBe(0); // a read makes nothing
    expect(await inFlight()).toBe(0);
  });

  it('answers history from the oldest retained, recovered:false, for a since the broker cannot continue from', async () => {
    await start();
    broker.history = 2;
    for (let i = 1; i <= 4; i++) broker.publishElsewhere('t', i);
    const a = h.connect();
    a.send({ op: 'history', topic: 't', since: 1, id: 'old' }); // older than what is retained
    a.send({ op: 'history', topic: 't', since: 9, id: 'ahead' }); // beyond the topic's seq
    await settle();
    for (const ack of a.take()) {
      expect(ack).toMatchObject({ op: 'ack', seq: 4, recovered: false, more: false });
      expect(ack.messages!.map((m) => m.seq)).toEqual([3, 4]);
    }
  });

  it('answers history of a topic nobody published with seq 0 and epoch null', async () => {
    await start();
    const a = h.connect();
    a.send({ op: 'history', topic: 'ghost', id: 1 });
    await settle();
    expect(a.take()).toEqual([{ op: 'ack', id: 1, topic: 'ghost', seq: 0, epoch: null, recovered: true, messages: [], more: false }]);
    expect(broker.topics.has('ghost')).toBe(false);
  });

  it('lists presence from the broker (every node clients)', async () => {
    await start();
    const { c: a } = await subscribed('room', { presence: true });
    broker.present.get('room')!.set('c-elsewhere', 'zoe');
    a.send({ op: 'presence', topic: 'room', id: 1 });
    await settle();
    const [ack] = a.take();
    expect(ack).toMatchObject({ op: 'ack', id: 1, topic: 'room', count: 2 });
    expect(ack!.clients!.map((c) => c.user).sort()).toEqual(['', 'zoe']);
  });
});

describe('hub (shared broker): presence and membership', () => {
  it('writes joins and leaves to the broker and tells the broker how many local members a topic has', async () => {
    await start();
    const { c: a, ack } = await subscribed('room', { presence: true });
    const { c: b } = await subscribed('room');
    b.disconnect();
    a.send({ op: 'unsub', topic: 'room' });
    const client = ack!.client!;
    expect(broker.calls.filter((c) => /^(presence|members) /.test(c))).toEqual([
      'members room 1',
      `presence room join ${client}`,
      'members room 2',
      expect.stringMatching(/^presence room join /),
      'members room 1',
      expect.stringMatching(/^presence room leave /),
      'members room 0',
      `presence room leave ${client}`,
    ]);
  });

  it('tells local watchers of joins and leaves made on other nodes', async () => {
    await start();
    const { c: w } = await subscribed('room', { presence: true });
    broker.events.presence('room', 'join', 'c-far', 'zoe');
    broker.events.presence('room', 'leave', 'c-far', 'zoe');
    broker.events.presence('elsewhere', 'join', 'c-far', 'zoe'); // not held here: nobody told
    expect(w.take()).toEqual([
      { op: 'join', topic: 'room', client: 'c-far', user: 'zoe' },
      { op: 'leave', topic: 'room', client: 'c-far', user: 'zoe' },
    ]);
  });

  it('writes its presence entries again every --presence-ttl / 3', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    await start({ presenceTtl: 30 });
    await subscribed('room');
    h.hub.startPresenceRefresh();
    broker.calls.length = 0;
    await vi.advanceTimersByTimeAsync(10_000);
    expect(broker.calls.filter((c) => c.startsWith('presence'))).toEqual([expect.stringMatching(/^presence room refresh \S+$/)]);
  });

  it('counts every node members in a presence_sync', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    await start({ presenceEvents: 1 });
    const { c: w } = await subscribed('room', { presence: true });
    broker.events.presence('room', 'join', 'c-far-1', 'x');
    broker.events.presence('room', 'join', 'c-far-2', 'y'); // past 1 event per second: dropped
    broker.present.get('room')!.set('c-far-1', 'x').set('c-far-2', 'y');
    expect(w.take().map((f) => f.op)).toEqual(['join']);
    await vi.advanceTimersByTimeAsync(1001);
    await settle();
    expect(w.take()).toEqual([{ op: 'presence_sync', topic: 'room', count: 3, dropped: 1 }]);
  });

  it('stops following a topic that leaves the store', async () => {
    await start({ maxTopics: 1 });
    const { c: a } = await subscribed('old');
    a.send({ op: 'unsub', topic: 'old' });
    await subscribed('new'); // 'old' makes room
    expect(broker.calls).toContain('unfollow old');
    expect(broker.followed).toEqual(new Set(['new']));
    expect([...broker.events.followed()]).toEqual(['new']);
  });
});
