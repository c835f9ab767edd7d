// Requests that used to crash the process or leave a promise unanswered, on every transport: bad
// request-targets, our own bugs (a handler that throws), repeated Host fields. Each ends in an
// answer or the loss of that one connection; the server goes on.
import { describe, expect, it } from 'vitest';
import { Authenticator } from '../../server/auth/tokens.js';
import type { Hub } from '../../server/hub/hub.js';
import { Client } from '../helpers/client.js';
import { clientFrame, rawHttp, RawClient } from '../helpers/raw.js';
import { serverFixture, transports } from '../helpers/server.js';

const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
const upgrade = (target: string, extra = '') =>
  `GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: 13\r\n${extra}\r\n`;

/** Status and JSON body of a raw HTTP answer. */
/** A bug injected into the hub: any message containing "poison" makes it throw. */
function poisonHub(hub: Hub): void {
  const message = hub.message.bind(hub);
  hub.message = (id, data, isBinary) => {
    if (data.toString().includes('poison')) throw new Error('injected bug');
    message(id, data, isBinary);
  };
}

function parse(response: string): { status: number; head: string; body: unknown } {
  const end = response.indexOf('\r\n\r\n');
  const head = response.slice(0, end);
  const body = response.slice(end + 4);
  // the body is JSON on both transports; its Content-Type is checked in errors.test.ts
  return { status: Number(response.slice(9, 12)), head, body: body.startsWith('{') ? JSON.parse(body) : body };
}

describe.each(transports)('hostile HTTP on the %s transport', (transport) => {
  const f = serverFixture(transport);

  it.each(['http://[/ws', '//[/ws', 'http://a:99999/ws'])(
    'answers an upgrade to %s with 400 bad_target and keeps serving',
    async (target) => {
      await f.start();
      const answer = parse(await rawHttp(f.srv.port, upgrade(target)));
      expect(answer.status).toBe(400);
      expect(answer.body).toMatchObject({ error: 'bad_target' });
      const c = await f.open('?topics=a');
      expect(await c.request({ op: 'pub', topic: 'a', data: 1, id: 1 })).toMatchObject({ op: 'msg' });
    },
  );

  it('answers 500 when handling an HTTP request throws, counts it, and serves the next request', async () => {
    await f.start();
    const hub = f.srv.server.hub;
    const publish = hub.publish.bind(hub);
    hub.publish = () => {
      throw new Error('injected bug');
    };
    const res = await fetch(`${f.srv.http}/publish`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"topic":"a","data":1}',
    });
    expect(res.status).toBe(500);
    expect(await res.json()).toMatchObject({ error: 'internal' });
    hub.publish = publish;
    const ok = await fetch(`${f.srv.http}/publish`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"topic":"a","data":1}',
    });
    expect(ok.status).toBe(200);
    const metrics = await (await fetch(`${f.srv.http}/metrics`)).text();
    expect(metrics).toMatch(/ringcast_internal_errors_total\{where="http"\} 1/);
  });

  it('answers 500 when deciding an upgrade throws, and upgrades the next client', async () => {
    await f.start({ jwtSecret: 'a-test-secret-of-32-characters!!' });
    const verify = Authenticator.prototype.verify;
    Authenticator.prototype.verify = () => Promise.reject(new Error('injected bug'));
    try {
      const answer = parse(await rawHttp(f.srv.port, upgrade('/ws?token=x')));
      expect(answer.status).toBe(500);
      expect(answer.body).toMatchObject({ error: 'internal' });
    } finally {
      Authenticator.prototype.verify = verify;
    }
    const metrics = await (await fetch(`${f.srv.http}/metrics`)).text();
    expect(metrics).toMatch(/ringcast_internal_errors_total\{where="upgrade"\} 1/);
    const answer = await rawHttp(f.srv.port, upgrade('/ws?token=x'));
    expect(answer).toMatch(/^HTTP\/1\.1 401 /);
  });

  it('drops only the connection whose opening throws, and upgrades the next client', async () => {
    await f.start();
    const hub = f.srv.server.hub;
    const open = hub.open.bind(hub);
    let calls = 0;
    hub.open = (id, info) => {
      if (calls++ === 0) throw new Error('injected bug');
      open(id, info);
    };
    // the first open throws: that one connection is lost, the server serves the next
    const first = await rawHttp(f.srv.port, upgrade('/ws'), 500);
    expect(first === '' || /^HTTP\/1\.1 (101|500)/.test(first)).toBe(true);
    const c = await f.open('?topics=a');
    expect(await c.request({ op: 'pub', topic: 'a', data: 1, id: 1 })).toMatchObject({ op: 'msg' });
  });

  it('closes only the connection whose message made the server throw, with 1011, and handles the rest of the batch', async () => {
    await f.start({ closeTimeout: 200 });
    poisonHub(f.srv.server.hub);
    const other = await f.open('?topics=t');
    const raw = await RawClient.handshake(f.srv.port, '/ws?topics=t');
    // poison, then a publish, in one write: the publish is never handled (its connection is
    // closing), and nothing else is lost
    raw.write(Buffer.concat([clientFrame(0x1, '"poison"'), clientFrame(0x1, '{"op":"pub","topic":"t","data":"after","id":1}')]));
    expect((await raw.closeFrame()).code).toBe(1011);
    await other.silent(200);
    const c = await f.open('?topics=t');
    expect(await c.request({ op: 'pub', topic: 't', data: 2, id: 2 })).toMatchObject({ op: 'msg', data: 2 });
    expect(await other.next()).toMatchObject({ op: 'msg', data: 2 });
  });

  it('handles a closed event that shares a batch with an event that throws', async () => {
    await f.start({ closeTimeout: 200 });
    const hub = f.srv.server.hub;
    poisonHub(hub);
    for (let round = 0; round < 5; round++) {
      const poisoner = await RawClient.handshake(f.srv.port, '/ws');
      const leaver = await Client.open(f.srv.url + '?topics=t');
      // both arrive together: on uring usually in one batch
      poisoner.write(clientFrame(0x1, '"poison"'));
      leaver.ws.terminate();
      await poisoner.waitEnd(2000).catch(() => poisoner.destroy());
    }
    const deadline = Date.now() + 2000;
    while (hub.connectionCount !== 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(hub.connectionCount).toBe(0);
  });

  it('answers an upgrade with two Host fields with 400 (RFC 7230 5.4)', async () => {
    await f.start();
    const answer = parse(await rawHttp(f.srv.port, upgrade('/ws', 'Host: evil.example\r\n')));
    expect(answer.status).toBe(400);
  });

  it('answers a plain request with two Host fields with 400', async () => {
    await f.start();
    const answer = await rawHttp(f.srv.port, 'GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\nConnection: close\r\n\r\n');
    expect(answer).toMatch(/^HTTP\/1\.1 400 /);
  });

  it('subscribes each name of ?topics= once, and refuses a long list of distinct names early with 400', async () => {
    await f.start({ maxTopicsPerConnection: 10 });
    const c = await f.open('?topics=a,b,a,b,a&topics=b');
    expect(await c.request({ op: 'presence', topic: 'a', id: 1 })).toMatchObject({ count: 1 });
    const names = Array.from({ length: 2309 }, (_, i) => i.toString(36)).join(',');
    const answer = parse(await rawHttp(f.srv.port, upgrade(`/ws?topics=${names}`)));
    expect(answer.status).toBe(400);
    expect(answer.body).toMatchObject({ error: 'too_many_topics' });
  });
});
