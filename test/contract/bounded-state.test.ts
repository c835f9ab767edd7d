// Server-wide bounds on what clients can make the server hold: topics and retained history, on
// every transport. Reads never create topics; past --max-topics the least recently active topic
// without subscribers goes; past --max-history-bytes idle topics go first, then the oldest retained
// messages; /metrics says what was evicted.
import { describe, expect, it } from 'vitest';
import { serverFixture, transports } from '../helpers/server.js';

const metric = async (http: string, name: string) => {
  const text = await (await fetch(`${http}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(name + ' ') || l.startsWith(name + '{'));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
};
const publish = (http: string, topic: string, data: unknown) =>
  fetch(`${http}/publish`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ topic, data }) });

describe.each(transports)('bounded state on the %s transport', (transport) => {
  const f = serverFixture(transport);

  it('creates no topic for history or presence of names that do not exist', async () => {
    await f.start();
    const c = await f.open();
    for (let i = 0; i < 500; i++) {
      c.send({ op: 'history', topic: `new.${i}`, id: i });
      c.send({ op: 'presence', topic: `new.${i}`, id: -i - 1 });
    }
    const acks = [];
    for (let i = 0; i < 1000; i++) acks.push(await c.next());
    expect(f.srv.server.hub.topicCount).toBe(0);
    expect(acks[0]).toEqual({ op: 'ack', id: 0, topic: 'new.0', seq: 0, epoch: null, recovered: true, messages: [], more: false });
    expect(acks[1]).toEqual({ op: 'ack', id: -1, topic: 'new.0', count: 0, clients: [] });
  });

  it('holds at most --max-topics topics, dropping the least recently active idle one, and counts it', async () => {
    await f.start({ maxTopics: 10 });
    const keeper = await f.open('?topics=kept');
    for (let i = 0; i < 30; i++) expect((await publish(f.srv.http, `t${i}`, i)).status).toBe(200);
    expect(f.srv.server.hub.topicCount).toBe(10);
    expect(await metric(f.srv.http, 'ringcast_topics_evicted_total{reason="max_topics"}')).toBe(21);
    expect(await metric(f.srv.http, 'ringcast_topics')).toBe(10);
    // the topic with a subscriber was never a candidate; the newest idle ones are still there
    expect(await keeper.request({ op: 'history', topic: 't29', id: 1 })).toMatchObject({ seq: 1, messages: [{ seq: 1, data: 29 }] });
    expect(await keeper.request({ op: 'history', topic: 't0', id: 2 })).toMatchObject({ seq: 0, epoch: null });
    expect(await keeper.request({ op: 'presence', topic: 'kept', id: 3 })).toMatchObject({ count: 1 });
  });

  it('refuses a new topic with topic_limit when every topic has subscribers', async () => {
    await f.start({ maxTopics: 2 });
    const c = await f.open('?topics=a,b');
    expect(await c.request({ op: 'sub', topic: 'c', id: 1 })).toMatchObject({ op: 'err', id: 1, code: 'topic_limit' });
    expect(await c.request({ op: 'pub', topic: 'c', data: 1, id: 2 })).toMatchObject({ op: 'err', id: 2, code: 'topic_limit' });
    const res = await publish(f.srv.http, 'c', 1);
    expect(res.status).toBe(503);
    expect(await res.json()).toMatchObject({ error: 'topic_limit' });
    expect(await metric(f.srv.http, 'ringcast_topic_limit_refusals_total')).toBe(3);
    expect(await c.request({ op: 'pub', topic: 'a', data: 1, id: 3 })).toMatchObject({ op: 'msg', topic: 'a' });
  });

  it('keeps retained bytes under --max-history-bytes: idle topics first, then the oldest messages', async () => {
    await f.start({ maxHistoryBytes: 20_000 });
    const c = await f.open('?topics=busy');
    const kb = 'k'.repeat(1000);
    for (let i = 0; i < 5; i++) await publish(f.srv.http, `idle${i}`, kb);
    for (let i = 1; i <= 40; i++) {
      await publish(f.srv.http, 'busy', { i, kb });
      expect((await c.next()).seq).toBe(i);
    }
    expect(f.srv.server.hub.historyBytes).toBeLessThanOrEqual(20_000);
    expect(f.srv.server.hub.topicCount).toBe(1);
    expect(await metric(f.srv.http, 'ringcast_topics_evicted_total{reason="max_history_bytes"}')).toBe(5);
    expect(await metric(f.srv.http, 'ringcast_history_evicted_total')).toBeGreaterThan(0);
    const history = await c.request({ op: 'history', topic: 'busy', since: 0, id: 1 });
    const seqs = (history.messages as { seq: number }[]).map((m) => m.seq);
    expect(history.recovered).toBe(false);
    expect(seqs[seqs.length - 1]).toBe(40);
    expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, k) => 41 - seqs.length + k));
  });
});
