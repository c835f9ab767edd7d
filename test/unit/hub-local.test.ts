// The hub in a single process (no shared broker: messages are numbered here), driven through the
// entry points a transport calls and read from the frames it queues (test/helpers/fake-client.ts).
// What is pinned here is the protocol a client sees (docs/protocol.md), not the code path: it
// must hold as well when this mode becomes an in-process broker that delivers synchronously.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { parseTopicsClaim, type Permissions } from '../../server/auth/permissions.js';
import { hubUnderTest, type HubUnderTest } from '../helpers/fake-client.js';

let h: HubUnderTest;
const hubs: HubUnderTest[] = [];

async function start(overrides: Parameters<typeof hubUnderTest>[0] = {}): Promise<HubUnderTest> {
  h = await hubUnderTest(overrides);
  hubs.push(h);
  return h;
}

afterEach(() => {
  for (const x of hubs.splice(0)) {
    x.stop();
    // no frame ever goes to a connection the transport reported gone
    expect(x.transport.strays).toEqual([]);
  }
  vi.useRealTimers();
});

/** Publishes `count` messages {n: i} to `topic` from a connection that is not subscribed. */
function publishMany(topic: string, count: number, from = 1): void {
  const p = h.connect();
  for (let i = from; i < from + count; i++) p.send({ op: 'pub', topic, data: { n: i } });
  p.disconnect();
}

describe('hub (single process): subscribe and publish', () => {
  it('acks a sub with the topic, seq 0 and an epoch before the first publish', async () => {
    await start();
    const a = h.connect();
    a.send({ op: 'sub', topic: 'news', id: 1 });
    const [ack] = a.take();
    expect(ack).toEqual({ op: 'ack', id: 1, topic: 'news', seq: 0, epoch: expect.any(String) });
    expect(ack!.epoch).not.toBe('');
  });

  it('echoes the request id byte for byte, a string id as a string', async () => {
    await start();
    const a = h.connect();
    a.send('{"op":"sub","topic":"t","id":"abc"}');
    a.send('{"op":"ping","id":7}');
    expect(a.take().map((f) => f.id)).toEqual(['abc', 7]);
  });

  it('sends no ack for a request without an id', async () => {
    await start();
    const a = h.connect();
    a.send({ op: 'sub', topic: 't' });
    a.send({ op: 'ping' });
    expect(a.take()).toEqual([]);
    a.send({ op: 'pub', topic: 't', data: 1 });
    expect(a.take()).toEqual([{ op: 'msg', topic: 't', seq: 1, data: 1 }]);
  });

  it('delivers a pub to every subscriber, the publisher own msg before its ack', async () => {
    await start();
    const a = h.connect();
    const b = h.connect();
    a.send({ op: 'sub', topic: 't', id: 1 });
    b.send({ op: 'sub', topic: 't', id: 1 });
    a.take();
    b.take();
    a.send({ op: 'pub', topic: 't', data: { hi: 1 }, id: 2 });
    expect(a.take()).toEqual([
      { op: 'msg', topic: 't', seq: 1, data: { hi: 1 } },
      { op: 'ack', id: 2, topic: 't', seq: 1, subscribers: 2 },
    ]);
    expect(b.take()).toEqual([{ op: 'msg', topic: 't', seq: 1, data: { hi: 1 } }]);
  });

  it('skips the publisher with "echo":false and counts only the others', async () => {
    await start();
    const a = h.connect();
    const b = h.connect();
    a.send({ op: 'sub', topic: 't' });
    b.send({ op: 'sub', topic: 't' });
    a.send({ op: 'pub', topic: 't', data: 'x', echo: false, id: 3 });
    expect(a.take()).toEqual([{ op: 'ack', id: 3, topic: 't', seq: 1, subscribers: 1 }]);
    expect(b.takeMsgs()).toEqual([[1, 'x']]);
  });

  it('numbers publishes 1, 2, 3 per topic, in the same order for every subscriber', async () => {
    await start();
    const a = h.connect();
    const b = h.connect();
    for (const c of [a, b]) {
      c.send({ op: 'sub', topic: 'x' });
      c.send({ op: 'sub', topic: 'y' });
    }
    const p = h.connect();
    for (const [topic, n] of [
      ['x', 1],
      ['y', 1],
      ['x', 2],
      ['x', 3],
      ['y', 2],
    ] as const)
      p.send({ op: 'pub', topic, data: n });
    const order = (frames: ReturnType<typeof a.take>) => frames.map((f) => `${f.topic}:${f.seq}:${String(f.data)}`);
    const expected = ['x:1:1', 'y:1:1', 'x:2:2', 'x:3:3', 'y:2:2'];
    expect(order(a.take())).toEqual(expected);
    expect(order(b.take())).toEqual(expected);
  });

  it('publishes to a topic nobody follows: seq advances, no receivers', async () => {
    await start();
    const p = h.connect();
    p.send({ op: 'pub', topic: 'lonely', data: 1, id: 1 });
    p.send({ op: 'pub', topic: 'lonely', data: 2, id: 2 });
    expect(p.take()).toEqual([
      { op: 'ack', id: 1, topic: 'lonely', seq: 1, subscribers: 0 },
      { op: 'ack', id: 2, topic: 'lonely', seq: 2, subscribers: 0 },
    ]);
  });

  it('delivers data verbatim (big numbers, escapes, whitespace)', async () => {
    await start();
    const a = h.connect();
    a.send({ op: 'sub', topic: 't' });
    a.send('{"op":"pub","topic":"t","data": {"n":12345678901234567890123, "s":"\\u00e9" }}');
    const raw = h.transport.raw(a.id).at(-1)!.toString('latin1');
    expect(raw).toContain('"data":{"n":12345678901234567890123, "s":"\\u00e9" }}');
  });

  it('a second sub of the same topic acks again and changes nothing', async () => {
    await start();
    const a = h.connect();
    a.send({ op: 'sub', topic: 't', id: 1 });
    a.send({ op: 'sub', topic: 't', id: 2 });
    a.send({ op: 'pub', topic: 't', data: 1, id: 3 });
    expect(a.take().map((f) => [f.op, f.id])).toEqual([
      ['ack', 1],
      ['ack', 2],
      ['msg', undefined],
      ['ack', 3],
    ]);
    expect(h.transport.fanouts.at(-1)!.ids).toEqual([a.id]);
  });

  it('subscribes ?topics= at open without an ack', async () => {
    await start();
    const a = h.connect({ topics: ['a', 'b'] });
    expect(a.take()).toEqual([]);
    const p = h.connect();
    p.send({ op: 'pub', topic: 'b', data: 'hi', id: 1 });
    expect(p.take()).toEqual([{ op: 'ack', id: 1, topic: 'b', seq: 1, subscribers: 1 }]);
    expect(a.takeMsgs()).toEqual([[1, 'hi']]);
  });
});

describe('hub (single process): requests it refuses', () => {
  it('answers bad JSON, an unknown op, a bad topic and a binary frame, and stays open', async () => {
    await start();
    const a = h.connect();
    a.send('{"op":');
    a.send({ op: 'nope', id: 1 });
    a.send({ op: 'sub', topic: 'has space', id: 2 });
    a.sendBinary(Buffer.from([1, 2, 3]));
    expect(a.take().map((f) => [f.op, f.id, f.code])).toEqual([
      ['err', undefined, 'bad_json'],
      ['err', 1, 'bad_request'],
      ['err', 2, 'bad_topic'],
      ['err', undefined, 'bad_request'],
    ]);
    a.send({ op: 'ping', id: 3 });
    expect(a.take()).toEqual([{ op: 'ack', id: 3 }]);
    expect(a.closedWith).toBeUndefined();
  });

  it('refuses what the token does not allow with forbidden', async () => {
    await start();
    const perms = parseTopicsClaim({ sub: ['room.*'], pub: ['room.1'] }) as Permissions;
    const a = h.connect({ perms });
    a.send({ op: 'sub', topic: 'secret', id: 1 });
    a.send({ op: 'pub', topic: 'room.2', data: 1, id: 2 });
    a.send({ op: 'history', topic: 'secret', id: 3 });
    a.send({ op: 'presence', topic: 'secret', id: 4 });
    a.send({ op: 'sub', topic: 'room.2', id: 5 });
    a.send({ op: 'pub', topic: 'room.1', data: 1, id: 6 });
    expect(a.take().map((f) => [f.op, f.id, f.code])).toEqual([
      ['err', 1, 'forbidden'],
      ['err', 2, 'forbidden'],
      ['err', 3, 'forbidden'],
      ['err', 4, 'forbidden'],
      ['ack', 5, undefined],
      ['ack', 6, undefined],
    ]);
  });

  it('ignores every request of a connection whose send was refused (past --max-outbound)', async () => {
    await start();
    const a = h.connect();
    const b = h.connect();
    b.send({ op: 'sub', topic: 't' });
    h.transport.fill(a.id);
    a.send({ op: 'ping', id: 1 }); // refused: the hub now treats a as closing
    a.send({ op: 'pub', topic: 't', data: 1 });
    expect(b.take()).toEqual([]);
  });
});

describe('hub (single process): recovery with since and epoch', () => {
  async function withHistory(count: number, overrides = {}): Promise<string> {
    await start(overrides);
    const first = h.connect();
    first.send({ op: 'sub', topic: 't', id: 0 });
    const epoch = first.take()[0]!.epoch as string;
    first.disconnect();
    publishMany('t', count);
    return epoch;
  }

  it('acks recovered:true, then replays what came after since, then goes live, without gap or duplicate', async () => {
    const epoch = await withHistory(5);
    const a = h.connect();
    a.send({ op: 'sub', topic: 't', since: 2, epoch, id: 1 });
    const frames = a.take();
    expect(frames[0]).toEqual({ op: 'ack', id: 1, topic: 't', seq: 5, epoch, recovered: true });
    expect(frames.slice(1).map((f) => [f.op, f.seq])).toEqual([
      ['msg', 3],
      ['msg', 4],
      ['msg', 5],
    ]);
    publishMany('t', 1, 6);
    expect(a.takeMsgs()).toEqual([[6, { n: 6 }]]);
  });

  it('replays the same bytes live subscribers received', async () => {
    await start();
    const live = h.connect();
    live.send({ op: 'sub', topic: 't', id: 0 });
    const epoch = live.take()[0]!.epoch as string;
    publishMany('t', 2);
    const a = h.connect();
    a.send({ op: 'sub', topic: 't', since: 0, epoch, id: 1 });
    expect(h.transport.raw(a.id).slice(1)).toEqual(h.transport.raw(live.id).slice(1));
  });

  it('recovers nothing to replay when since is the current seq', async () => {
    const epoch = await withHistory(3);
    const a = h.connect();
    a.send({ op: 'sub', topic: 't', since: 3, epoch, id: 1 });
    expect(a.take()).toEqual([{ op: 'ack', id: 1, topic: 't', seq: 3, epoch, recovered: true }]);
  });

  it('says recovered:false and replays from the oldest retained when since is older than --history', async () => {
    const epoch = await withHistory(6, { history: 3 });
    const a = h.connect();
    a.send({ op: 'sub', topic: 't', since: 1, epoch, id: 1 });
    const frames = a.take();
    expect(frames[0]).toMatchObject({ op: 'ack', seq: 6, recovered: false });
    expect(frames.slice(1).map((f) => f.seq)).toEqual([4, 5, 6]);
  });

  it('says recovered:true when since is just before the oldest retained message', async () => {
    const epoch = await withHistory(6, { history: 3 });
    const a = h.connect();
    a.send({ op: 'sub', topic: 't', since: 3, epoch, id: 1 });
    const frames = a.take();
    expect(frames[0]).toMatchObject({ recovered: true });
    expect(frames.slice(1).map((f) => f.seq)).toEqual([4, 5, 6]);
  });

  it('says recovered:false and replays everything retained for another epoch', async () => {
    const epoch = await withHistory(3);
    const a = h.connect();
    a.send({ op: 'sub', topic: 't', since: 2, epoch: 'other-epoch', id: 1 });
    const frames = a.take();
    expect(frames[0]).toEqual({ op: 'ack', id: 1, topic: 't', seq: 3, epoch, recovered: false });
    expect(frames.slice(1).map((f) => f.seq)).toEqual([1, 2, 3]);
  });

  it('says recovered:false for a since beyond the current seq', async () => {
    const epoch = await withHistory(2);
    const a = h.connect();
    a.send({ op: 'sub', topic: 't', since: 9, epoch, id: 1 });
    const frames = a.take();
    expect(frames[0]).toMatchObject({ seq: 2, recovered: false });
    expect(frames.slice(1).map((f) => f.seq)).toEqual([1, 2]);
  });

  it('replays only the newest that fit a quarter of --max-outbound, recovered:false', async () => {
    await start({ maxOutbound: 4096 }); // a replay carries at most 1024 bytes of frames
    const first = h.connect();
    first.send({ op: 'sub', topic: 't', id: 0 });
    const epoch = first.take()[0]!.epoch as string;
    const p = h.connect();
    for (let i = 1; i <= 10; i++) p.send({ op: 'pub', topic: 't', data: 'x'.repeat(200) });
    const a = h.connect();
    a.send({ op: 'sub', topic: 't', since: 0, epoch, id: 1 });
    const frames = a.take();
    expect(frames[0]).toMatchObject({ seq: 10, recovered: false });
    const seqs = frames.slice(1).map((f) => f.seq);
    expect(seqs.length).toBeGreaterThan(0);
    expect(seqs.length).toBeLessThan(10);
    expect(seqs.at(-1)).toBe(10); // the newest, joined to the live stream
    expect(seqs).toEqual(seqs.map((_, i) => 10 - seqs.length + 1 + i));
  });

  it('gives a topic dropped after --history-ttl a new epoch and its seq restarts', async () => {
    const epoch = await withHistory(2, { historyTtl: 0 }); // 0: a topic without members is dropped at once
    const a = h.connect();
    a.send({ op: 'sub', topic: 't', since: 2, epoch, id: 1 });
    const [ack] = a.take();
    expect(ack).toMatchObject({ seq: 0, recovered: false });
    expect(ack!.epoch).not.toBe(epoch);
  });
});

describe('hub (single process): history', () => {
  it('answers retained messages after since, oldest first, with the topic position', async () => {
    await start();
    const a = h.connect();
    a.send({ op: 'sub', topic: 't', id: 0 });
    const epoch = a.take()[0]!.epoch;
    publishMany('t', 4);
    a.take();
    a.send({ op: 'history', topic: 't', since: 1, id: 1 });
    expect(a.take()).toEqual([
      {
        op: 'ack',
        id: 1,
        topic: 't',
        seq: 4,
        epoch,
        recovered: true,
        messages: [2, 3, 4].map((n) => ({ seq: n, data: { n } })),
        more: false,
      },
    ]);
  });

  it('pages with limit and says more', async () => {
    await start();
    const a = h.connect();
    a.send({ op: 'sub', topic: 't' });
    publishMany('t', 5);
    a.take();
    a.send({ op: 'history', topic: 't', since: 0, limit: 2, id: 1 });
    a.send({ op: 'history', topic: 't', since: 4, limit: 2, id: 2 });
    const [one, two] = a.take();
    expect(one!.messages!.map((m) => m.seq)).toEqual([1, 2]);
    expect(one!.more).toBe(true);
    expect(two!.messages!.map((m) => m.seq)).toEqual([5]);
    expect(two!.more).toBe(false);
  });

  it('reads a topic that does not exist without making it', async () => {
    await start({ maxTopics: 1 });
    const a = h.connect();
    a.send({ op: 'history', topic: 'ghost', id: 1 });
    a.send({ op: 'presence', topic: 'ghost', id: 2 });
    expect(a.take()).toEqual([
      { op: 'ack', id: 1, topic: 'ghost', seq: 0, epoch: null, recovered: true, messages: [], more: false },
      { op: 'ack', id: 2, topic: 'ghost', count: 0, clients: [] },
    ]);
    // the only topic slot is still free
    a.send({ op: 'sub', topic: 'real', id: 3 });
    expect(a.take()[0]).toMatchObject({ op: 'ack', id: 3 });
  });

  it('ignores history and presence without an id', async () => {
    await start();
    const a = h.connect();
    a.send({ op: 'history', topic: 't' });
    a.send({ op: 'presence', topic: 't' });
    expect(a.take()).toEqual([]);
  });
});

describe('hub (single process): unsubscribe and close', () => {
  it('acks an unsub and delivers nothing after it', async () => {
    await start();
    const a = h.connect();
    a.send({ op: 'sub', topic: 't' });
    a.send({ op: 'unsub', topic: 't', id: 1 });
    expect(a.take()).toEqual([{ op: 'ack', id: 1, topic: 't' }]);
    publishMany('t', 1);
    expect(a.take()).toEqual([]);
  });

  it('answers not_subscribed to an unsub of a topic it does not hold', async () => {
    await start();
    const a = h.connect();
    const b = h.connect();
    b.send({ op: 'sub', topic: 't' });
    a.send({ op: 'unsub', topic: 't', id: 1 });
    a.send({ op: 'unsub', topic: 'never', id: 2 });
    expect(a.take().map((f) => [f.id, f.code])).toEqual([
      [1, 'not_subscribed'],
      [2, 'not_subscribed'],
    ]);
  });

  it('sends nothing to a closed connection and keeps serving the others', async () => {
    await start();
    const a = h.connect();
    const b = h.connect();
    const c = h.connect();
    for (const x of [a, b, c]) x.send({ op: 'sub', topic: 't' });
    b.disconnect();
    publishMany('t', 2);
    expect(a.takeMsgs().map(([s]) => s)).toEqual([1, 2]);
    expect(c.takeMsgs().map(([s]) => s)).toEqual([1, 2]);
    expect(h.hub.connectionCount).toBe(2);
    // strays are checked in afterEach
  });

  it('ignores messages and closes for an id whose slot was reused by a new connection', async () => {
    await start();
    const slot = 5;
    const old = h.connect({ id: (1 << 18) | slot });
    old.disconnect();
    const fresh = h.connect({ id: (2 << 18) | slot });
    fresh.send({ op: 'sub', topic: 't' });
    h.hub.message(old.id, Buffer.from('{"op":"ping","id":1}'), false);
    h.hub.close(old.id);
    publishMany('t', 1);
    expect(fresh.takeMsgs()).toEqual([[1, { n: 1 }]]);
    expect(h.hub.connectionCount).toBe(1);
  });

  it('ignores a connection after fail() and closes it with 1011', async () => {
    await start();
    const a = h.connect();
    h.hub.fail(a.id);
    expect(a.closedWith?.code).toBe(1011);
    a.send({ op: 'ping', id: 1 });
    expect(a.take()).toEqual([]);
  });
});

describe('hub (single process): presence', () => {
  it('lists members with their client ids and users', async () => {
    await start();
    const a = h.connect({ user: 'alice' });
    const b = h.connect({ user: 'bob' });
    a.send({ op: 'sub', topic: 'room', presence: true, id: 1 });
    b.send({ op: 'sub', topic: 'room', id: 1 });
    const me = a.take()[0]!.client;
    expect(me).toEqual(expect.any(String));
    b.send({ op: 'presence', topic: 'room', id: 2 });
    const [ack] = b.take().slice(-1);
    expect(ack).toMatchObject({ op: 'ack', id: 2, topic: 'room', count: 2 });
    expect(ack!.clients!.map((c) => c.user).sort()).toEqual(['alice', 'bob']);
    expect(ack!.clients!.find((c) => c.user === 'alice')!.client).toBe(me);
  });

  it('tells watchers of joins and leaves (unsub and close), never the member itself', async () => {
    await start();
    const w = h.connect({ user: 'w' });
    w.send({ op: 'sub', topic: 'room', presence: true, id: 1 });
    w.take();
    const a = h.connect({ user: 'alice' });
    a.send({ op: 'sub', topic: 'room', presence: true, id: 1 });
    const aClient = a.take()[0]!.client;
    const b = h.connect({ user: 'bob' });
    b.send({ op: 'sub', topic: 'room', id: 1 }); // not watching
    a.send({ op: 'unsub', topic: 'room' });
    b.disconnect();
    expect(w.take().map((f) => [f.op, f.user])).toEqual([
      ['join', 'alice'],
      ['join', 'bob'],
      ['leave', 'alice'],
      ['leave', 'bob'],
    ]);
    expect(w.all().find((f) => f.op === 'join')!.client).toBe(aClient);
    // alice heard bob join (she was watching) but not herself, and nothing after her unsub
    expect(a.take().map((f) => [f.op, f.user])).toEqual([['join', 'bob']]);
  });

  it('sends no event for a second sub of a member', async () => {
    await start();
    const w = h.connect();
    w.send({ op: 'sub', topic: 'room', presence: true });
    const a = h.connect();
    a.send({ op: 'sub', topic: 'room' });
    a.send({ op: 'sub', topic: 'room' });
    expect(w.take().map((f) => f.op)).toEqual(['join']);
  });

  it('past --presence-events in a second, drops the rest and sends one presence_sync', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    await start({ presenceEvents: 2 });
    const w = h.connect();
    w.send({ op: 'sub', topic: 'room', presence: true });
    for (let i = 0; i < 5; i++) h.connect().send({ op: 'sub', topic: 'room' });
    expect(w.take().map((f) => f.op)).toEqual(['join', 'join']);
    await vi.advanceTimersByTimeAsync(1001);
    expect(w.take()).toEqual([{ op: 'presence_sync', topic: 'room', count: 6, dropped: 3 }]);
  });
});

describe('hub (single process): idempotent publishes', () => {
  it('publishes a key once and answers a repeat with the first seq, duplicate, delivering nothing', async () => {
    await start();
    const a = h.connect();
    a.send({ op: 'sub', topic: 't' });
    a.send({ op: 'pub', topic: 't', data: 'once', key: 'k1', id: 1 });
    a.send({ op: 'pub', topic: 't', data: 'other', id: 2 });
    a.send({ op: 'pub', topic: 't', data: 'once', key: 'k1', id: 3 });
    expect(a.take()).toEqual([
      { op: 'msg', topic: 't', seq: 1, data: 'once' },
      { op: 'ack', id: 1, topic: 't', seq: 1, subscribers: 1 },
      { op: 'msg', topic: 't', seq: 2, data: 'other' },
      { op: 'ack', id: 2, topic: 't', seq: 2, subscribers: 1 },
      { op: 'ack', id: 3, topic: 't', seq: 1, subscribers: 0, duplicate: true },
    ]);
  });

  it('scopes keys to the topic', async () => {
    await start();
    const a = h.connect();
    a.send({ op: 'pub', topic: 'x', data: 1, key: 'k', id: 1 });
    a.send({ op: 'pub', topic: 'y', data: 1, key: 'k', id: 2 });
    expect(a.take().map((f) => f.duplicate)).toEqual([undefined, undefined]);
  });

  it('is answered the same through hub.publish (POST /publish)', async () => {
    await start();
    expect(h.hub.publish('t', Buffer.from('1'), -1, 'http', 'k')).toEqual({ ok: true, seq: 1, subscribers: 0, duplicate: false });
    expect(h.hub.publish('t', Buffer.from('1'), -1, 'http', 'k')).toEqual({ ok: true, seq: 1, subscribers: 0, duplicate: true });
  });

  it('forgets a dropped topic keys: a repeat after the drop is published again', async () => {
    await start({ historyTtl: 0 });
    const a = h.connect();
    a.send({ op: 'sub', topic: 't' });
    a.send({ op: 'pub', topic: 't', data: 1, key: 'k', id: 1 });
    a.send({ op: 'unsub', topic: 't' }); // the topic is dropped now
    a.send({ op: 'pub', topic: 't', data: 1, key: 'k', id: 2 });
    const acks = a.take().filter((f) => f.op === 'ack' && f.id === 2);
    expect(acks).toEqual([{ op: 'ack', id: 2, topic: 't', seq: 1, subscribers: 0 }]);
  });

  it('forgets the oldest key past --max-idempotency-keys', async () => {
    await start({ maxIdempotencyKeys: 2 });
    const a = h.connect();
    for (const k of ['k1', 'k2', 'k3', 'k1', 'k3']) a.send({ op: 'pub', topic: 't', data: 0, key: k, id: k });
    expect(a.take().map((f) => [f.id, f.seq, f.duplicate ?? false])).toEqual([
      ['k1', 1, false],
      ['k2', 2, false],
      ['k3', 3, false],
      ['k1', 4, false],
      ['k3', 3, true],
    ]);
  });
});

describe('hub (single process): bounds', () => {
  it('refuses a new topic with topic_limit when --max-topics topics all have subscribers', async () => {
    await start({ maxTopics: 2 });
    const a = h.connect();
    a.send({ op: 'sub', topic: 'a' });
    a.send({ op: 'sub', topic: 'b' });
    a.send({ op: 'sub', topic: 'c', id: 1 });
    a.send({ op: 'pub', topic: 'c', data: 1, id: 2 });
    expect(a.take().map((f) => [f.id, f.code])).toEqual([
      [1, 'topic_limit'],
      [2, 'topic_limit'],
    ]);
    expect(h.hub.publish('c', Buffer.from('1'))).toMatchObject({ ok: false, code: 'topic_limit' });
    expect(h.hub.topicCount).toBe(2);
    expect(await h.metric('ringcast_topic_limit_refusals_total')).toBe(3);
  });

  it('tells ?topics= past --max-topics with an err without id', async () => {
    await start({ maxTopics: 1 });
    h.connect({ topics: ['a'] });
    const b = h.connect({ topics: ['a', 'b'] });
    expect(b.take().map((f) => [f.op, f.id, f.code])).toEqual([['err', undefined, 'topic_limit']]);
  });

  it('evicts the least recently active topic without subscribers to make room, which then recovers false', async () => {
    await start({ maxTopics: 2 });
    const a = h.connect();
    a.send({ op: 'sub', topic: 'old', id: 1 });
    const epoch = a.take()[0]!.epoch;
    a.send({ op: 'pub', topic: 'old', data: 1 });
    a.send({ op: 'unsub', topic: 'old' });
    a.send({ op: 'sub', topic: 'keep' });
    a.send({ op: 'sub', topic: 'new', id: 2 }); // 'old' goes
    a.take();
    a.send({ op: 'sub', topic: 'old', since: 1, epoch, id: 3 }); // 'keep' and 'new' both have members
    expect(a.take()).toEqual([{ op: 'err', id: 3, code: 'topic_limit', msg: expect.any(String) }]);
    a.send({ op: 'unsub', topic: 'keep' });
    a.send({ op: 'sub', topic: 'old', since: 1, epoch, id: 4 });
    const ack = a.take().find((f) => f.id === 4)!;
    expect(ack).toMatchObject({ op: 'ack', seq: 0, recovered: false });
    expect(ack.epoch).not.toBe(epoch);
    expect(await h.metric('ringcast_topics_evicted_total', { reason: 'max_topics' })).toBe(2);
  });

  it('makes room for a publish to a new topic with a topic whose last subscriber just left', async () => {
    await start({ maxTopics: 2 });
    const a = h.connect();
    a.send({ op: 'sub', topic: 'left' });
    a.send({ op: 'sub', topic: 'kept' });
    a.send({ op: 'unsub', topic: 'left' });
    expect(h.hub.publish('new', Buffer.from('1'))).toMatchObject({ ok: true, seq: 1 });
    expect(h.hub.topicCount).toBe(2);
    expect(await h.metric('ringcast_topics_evicted_total', { reason: 'max_topics' })).toBe(1);
    a.send({ op: 'pub', topic: 'kept', data: 2, id: 1 });
    expect(a.take()).toEqual([
      { op: 'msg', topic: 'kept', seq: 1, data: 2 },
      { op: 'ack', id: 1, topic: 'kept', seq: 1, subscribers: 1 },
    ]);
  });

  it('past --max-history-bytes drops topics without subscribers first, then the oldest messages', async () => {
    await start({ maxHistoryBytes: 1000 });
    const a = h.connect();
    a.send({ op: 'sub', topic: 'live', id: 1 });
    const epoch = a.take()[0]!.epoch;
    publishMany('idle', 3);
    expect(h.hub.topicCount).toBe(2);
    const p = h.connect();
    for (let i = 1; i <= 10; i++) p.send({ op: 'pub', topic: 'live', data: 'y'.repeat(100) });
    expect(h.hub.topicCount).toBe(1); // 'idle' went first
    expect(h.hub.historyBytes).toBeLessThanOrEqual(1000);
    a.take();
    a.send({ op: 'sub', topic: 'live', since: 0, epoch, id: 2 });
    const frames = a.take();
    expect(frames[0]).toMatchObject({ op: 'ack', seq: 10, recovered: false });
    expect(frames.slice(1).at(-1)!.seq).toBe(10);
    expect(frames.slice(1)[0]!.seq).toBeGreaterThan(1);
    expect(await h.metric('ringcast_topics_evicted_total', { reason: 'max_history_bytes' })).toBe(1);
  });

  it('refuses a sub past --max-topics-per-connection with too_many_topics', async () => {
    await start({ maxTopicsPerConnection: 2 });
    const a = h.connect();
    for (const t of ['a', 'b', 'c']) a.send({ op: 'sub', topic: t, id: t });
    a.send({ op: 'sub', topic: 'a', id: 'again' }); // one it holds: fine
    expect(a.take().map((f) => [f.id, f.op, f.code])).toEqual([
      ['a', 'ack', undefined],
      ['b', 'ack', undefined],
      ['c', 'err', 'too_many_topics'],
      ['again', 'ack', undefined],
    ]);
  });

  it('drops a topic at once when its last member leaves with --history-ttl 0', async () => {
    await start({ historyTtl: 0 });
    const a = h.connect();
    a.send({ op: 'sub', topic: 't' });
    a.send({ op: 'pub', topic: 't', data: 1 });
    expect(h.hub.topicCount).toBe(1);
    a.disconnect();
    expect(h.hub.topicCount).toBe(0);
    expect(h.hub.historyBytes).toBe(0);
  });
});

describe('hub (single process): rate limits', () => {
  // a second's allowance refills in a second: these bursts take a few ms, so at most the
  // second message of a burst can ride on the refill
  it('refuses a message past --rate-limit with rate_limited and its id, so it can be sent again', async () => {
    await start({ rateLimit: 1 });
    const a = h.connect();
    for (let i = 1; i <= 3; i++) a.send({ op: 'ping', id: i });
    const frames = a.take();
    expect(frames[0]).toEqual({ op: 'ack', id: 1 });
    expect(frames.at(-1)).toMatchObject({ op: 'err', id: 3, code: 'rate_limited' });
    expect(a.closedWith).toBeUndefined();
  });

  it('closes a connection that keeps sending past its limit with 1008 and ignores it from then on', async () => {
    await start({ rateLimit: 1 });
    const a = h.connect();
    for (let i = 1; i <= 14; i++) a.send({ op: 'ping', id: i });
    expect(a.closedWith?.code).toBe(1008);
    const refused = a.take().filter((f) => f.code === 'rate_limited').length;
    expect(refused).toBe(10); // the 11th refusal in a row closes instead
  });
});

describe('hub (single process): permessage-deflate', () => {
  it('sends the compressed twin to connections that negotiated, live and in replays', async () => {
    await start({ deflateThreshold: 16 });
    const z = h.connect({ deflate: true });
    const plain = h.connect();
    z.send({ op: 'sub', topic: 't', id: 1 });
    const epoch = z.take()[0]!.epoch;
    plain.send({ op: 'sub', topic: 't' });
    const data = 'compress me '.repeat(20);
    plain.send({ op: 'pub', topic: 't', data });
    expect(z.take()).toEqual([{ op: 'msg', topic: 't', seq: 1, data, compressed: true }]);
    expect(plain.take()).toEqual([{ op: 'msg', topic: 't', seq: 1, data }]);
    const z2 = h.connect({ deflate: true });
    z2.send({ op: 'sub', topic: 't', since: 0, epoch, id: 2 });
    expect(z2.take()[1]).toEqual({ op: 'msg', topic: 't', seq: 1, data, compressed: true });
  });
});
