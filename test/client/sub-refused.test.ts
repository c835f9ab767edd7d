// What the client SDK does with an `err` answering its `sub`, on every transport: a permanent
// refusal (forbidden, bad_topic) fails the subscription where the app sees it (its state, its
// `error` event, the client's `subscription` event, the rejected `subscribed`) and is never sent
// again, not even after a reconnect; a transient one (topic_limit) is retried until it succeeds.
import { SignJWT } from 'jose';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { RingcastClient, RingcastError, type SubscriptionStateChange } from '../../server/client/index.js';
import { Client, sleep, until } from '../helpers/client.js';
import { CutProxy } from '../helpers/proxy.js';
import { startServer, transports, type TestServer } from '../helpers/server.js';

const SECRET = 'a-test-secret-of-32-characters!!';

/** A real `ws` socket that records the text frames the client sends. */
function recordingSocket(sent: string[]): typeof WebSocket {
  return class extends WebSocket {
    override send(data: unknown): void {
      sent.push(String(data));
      super.send(data as string);
    }
  } as unknown as typeof WebSocket;
}

describe.each(transports)('a refused subscription on the %s transport', (transport) => {
  let srv: TestServer;
  let proxy: CutProxy | undefined;
  const clients: RingcastClient[] = [];
  const raws: Client[] = [];

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
    for (const c of raws.splice(0)) c.close();
    await proxy?.close();
    proxy = undefined;
    await srv?.close();
  });

  function client(url: string, sent: string[], options: ConstructorParameters<typeof RingcastClient>[1] = {}) {
    const c = new RingcastClient(url, {
      minDelay: 20,
      maxDelay: 100,
      pingInterval: 0,
      WebSocket: recordingSocket(sent) as never,
      ...options,
    });
    clients.push(c);
    return c;
  }
  const subsOf = (sent: string[], topic: string) =>
    sent.filter((f) => (JSON.parse(f) as { op: string; topic?: string }).op === 'sub' && f.includes(`"topic":${JSON.stringify(topic)}`));

  it('fails for good on forbidden and bad_topic: state, events, rejection, and no retry across a reconnect', async () => {
    srv = await startServer(transport, { jwtSecret: SECRET });
    proxy = await CutProxy.start(srv.port);
    const token = await new SignJWT({ sub: 'ann', topics: { sub: ['room.*'], pub: ['room.*'] } })
      .setProtectedHeader({ alg: 'HS256' })
      .setExpirationTime('1h')
      .sign(new TextEncoder().encode(SECRET));
    const sent: string[] = [];
    const c = client(`ws://127.0.0.1:${proxy.port}/ws`, sent, { token });
    const clientChanges: SubscriptionStateChange[] = [];
    c.on('subscription', (s) => clientChanges.push(s));

    const ok = c.subscribe('room.1', () => undefined);
    const secret = c.subscribe('secret', () => undefined);
    const bad = c.subscribe('has space', () => undefined);
    const errors: RingcastError[] = [];
    const changes: SubscriptionStateChange[] = [];
    for (const s of [secret, bad]) {
      s.on('error', (e) => errors.push(e));
      s.on('state', (x) => changes.push(x));
    }
    await ok.subscribed;
    await expect(secret.subscribed).rejects.toMatchObject({ code: 'server', serverCode: 'forbidden' });
    await expect(bad.subscribed).rejects.toMatchObject({ code: 'server', serverCode: 'bad_topic' });
    expect(secret.state).toBe('failed');
    expect(bad.state).toBe('failed');
    expect(secret.error).toMatchObject({ serverCode: 'forbidden' });
    expect(errors.map((e) => e.serverCode).sort()).toEqual(['bad_topic', 'forbidden']);
    expect(
      changes
        .filter((x) => x.state === 'failed')
        .map((x) => [x.topic, x.code])
        .sort(),
    ).toEqual([
      ['has space', 'bad_topic'],
      ['secret', 'forbidden'],
    ]);
    expect(
      clientChanges
        .filter((x) => x.state === 'failed')
        .map((x) => x.topic)
        .sort(),
    ).toEqual(['has space', 'secret']);

    // a reconnect re-subscribes the live subscription only
    const before = subsOf(sent, 'room.1').length;
    proxy.cut();
    await until(() => subsOf(sent, 'room.1').length > before && ok.state === 'subscribed', 5000);
    await sleep(300); // several backoff periods: a retry would be sent by now
    expect(subsOf(sent, 'secret')).toHaveLength(1);
    expect(subsOf(sent, 'has space')).toHaveLength(1);
    expect(changes.filter((x) => x.state !== 'failed')).toEqual([]); // subscribing -> failed, nothing after
    // the topic is free again for a new subscription (e.g. after the app got a better token)
    expect(() => c.subscribe('secret', () => undefined)).not.toThrow();
  });

  it('retries a topic_limit refusal with backoff and subscribes once a topic is free', async () => {
    srv = await startServer(transport, { maxTopics: 1 });
    const holder = await Client.open(srv.url);
    raws.push(holder);
    await holder.request({ op: 'sub', topic: 'a', id: 1 });
    const sent: string[] = [];
    const c = client(srv.url, sent);
    const got: unknown[] = [];
    const sub = c.subscribe('b', (d) => got.push(d));
    const changes: SubscriptionStateChange[] = [];
    sub.on('state', (x) => changes.push(x));
    await until(() => changes.filter((x) => x.state === 'retrying').length >= 2, 5000);
    expect(changes.find((x) => x.state === 'retrying')).toMatchObject({ code: 'topic_limit' });
    expect(changes.find((x) => x.state === 'retrying')!.delay).toBeGreaterThanOrEqual(0);
    holder.close(); // topic a loses its subscriber and may be dropped to make room
    await until(() => sub.state === 'subscribed', 5000);
    await expect(sub.subscribed).resolves.toMatchObject({ seq: 0 });
    await c.publish('b', 'hello');
    await until(() => got.length === 1, 5000);
    expect(got).toEqual(['hello']);
  });
});
