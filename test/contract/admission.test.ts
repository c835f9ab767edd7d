// Admission races and close deadlines (--close-timeout), on every transport: an upgrade whose token
// check ends during a drain is refused; --max-connections holds across concurrent token checks; a
// connection the server closes is gone after --close-timeout even when its peer neither reads nor
// answers.
import { SignJWT } from 'jose';
import { afterEach, describe, expect, it } from 'vitest';
import { Authenticator } from '../../server/auth/tokens.js';
import { Client, sleep, until } from '../helpers/client.js';
import { rawHttp, RawClient } from '../helpers/raw.js';
import { serverFixture, transports } from '../helpers/server.js';

const SECRET = 'a-test-secret-of-32-characters!!';
const token = (claims: Record<string, unknown> = { sub: 'u' }, exp?: number) => {
  const jwt = new SignJWT(claims).setProtectedHeader({ alg: 'HS256' });
  if (exp !== undefined) jwt.setExpirationTime(exp);
  return jwt.sign(new TextEncoder().encode(SECRET));
};
const upgrade = (jwt: string) =>
  `GET /ws?token=${jwt} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`;

/** Holds every token check until `release()`: the window in which the races happen. */
function holdTokenChecks() {
  const verify = Authenticator.prototype.verify;
  const waiting: (() => void)[] = [];
  let open = false;
  Authenticator.prototype.verify = async function (this: Authenticator, t) {
    if (!open) await new Promise<void>((r) => waiting.push(r));
    return verify.call(this, t);
  };
  return {
    get pending() {
      return waiting.length;
    },
    release() {
      open = true;
      for (const w of waiting.splice(0)) w();
    },
    restore() {
      Authenticator.prototype.verify = verify;
    },
  };
}

describe.each(transports)('admission and close deadlines on the %s transport', (transport) => {
  const f = serverFixture(transport);
  let hold: ReturnType<typeof holdTokenChecks> | undefined;
  afterEach(() => {
    hold?.release();
    hold?.restore();
    hold = undefined;
  });

  it('refuses with 503 an upgrade whose token check ends while the drain waits for its closes', async () => {
    await f.start({ jwtSecret: SECRET, drainTimeout: 30_000, closeTimeout: 300 });
    // a client that never answers its 1001 keeps the drain waiting (until --close-timeout)
    const silent = await RawClient.handshake(f.srv.port, `/ws?token=${await token()}`);
    silent.socket.pause();
    hold = holdTokenChecks();
    const answer = rawHttp(f.srv.port, upgrade(await token()), 3000);
    await until(() => hold!.pending === 1);
    const started = Date.now();
    const drained = f.srv.server.drain();
    await sleep(100); // closeAll has walked the connections and is waiting
    hold.release();
    expect(await answer).toMatch(/^HTTP\/1\.1 503 /);
    await drained;
    expect(Date.now() - started).toBeLessThan(15_000); // --close-timeout, not the whole --drain-timeout
    silent.destroy();
  });

  it('holds --max-connections across concurrent token checks', async () => {
    await f.start({ jwtSecret: SECRET, maxConnections: 2 });
    hold = holdTokenChecks();
    const jwt = await token();
    const answers = Array.from({ length: 6 }, () => rawHttp(f.srv.port, upgrade(jwt), 1500));
    await until(() => hold!.pending >= 2);
    await sleep(100); // every upgrade has reached the server
    hold.release();
    const statuses = (await Promise.all(answers)).map((a) => a.slice(9, 12)).sort();
    expect(statuses).toEqual(['101', '101', '503', '503', '503', '503']);
  });

  it('leaves the stopped engine alone when a token check ends after the server stopped', async () => {
    await f.start({ jwtSecret: SECRET, drainTimeout: 500 });
    hold = holdTokenChecks();
    const answer = rawHttp(f.srv.port, upgrade(await token()), 1500);
    await until(() => hold!.pending === 1);
    await f.srv.server.drain();
    hold.release();
    await sleep(50); // the continuation ran: it must not call into the destroyed engine
    expect(await answer).not.toMatch(/^HTTP\/1\.1 101 /);
  });

  it('aborts a slow consumer that neither reads nor answers its 1013 after --close-timeout', async () => {
    await f.start({ closeTimeout: 300, maxOutbound: 64 * 1024 });
    const raw = await RawClient.handshake(f.srv.port, '/ws?topics=t');
    raw.socket.pause(); // never reads: the queue cannot flush, the close is never answered
    const publisher = await f.open();
    const pad = 'x'.repeat(60_000);
    for (let i = 0; i < 200 && f.srv.server.transport.connectionCount() === 2; i++) {
      publisher.send({ op: 'pub', topic: 't', data: pad, echo: false });
      await sleep(2);
    }
    await until(() => f.srv.server.transport.connectionCount() === 1, 3000);
    const metrics = await (await fetch(`${f.srv.http}/metrics`)).text();
    expect(metrics).toMatch(new RegExp(`ringcast_connections\\{transport="${transport}"\\} 1`));
    expect(metrics).toMatch(/ringcast_close_timeouts_total [1-9]/);
    raw.destroy();
  });

  it('aborts a connection that does not answer its 4001 within --close-timeout', async () => {
    await f.start({ jwtSecret: SECRET, closeTimeout: 300 });
    const jwt = await token({ sub: 'u' }, Math.floor(Date.now() / 1000) + 2); // +1 could be a few ms away, past by the upgrade
    const raw = await RawClient.handshake(f.srv.port, `/ws?token=${jwt}`);
    expect((await raw.closeFrame(4000)).code).toBe(4001);
    // the client reads the close but never answers it
    await raw.waitEnd(1500);
    await until(() => f.srv.server.transport.connectionCount() === 0, 500);
  });

  it('serves a well-behaved client while another is aborted', async () => {
    await f.start({ closeTimeout: 300 });
    const c = await Client.open(f.srv.url + '?topics=a');
    expect(await c.request({ op: 'pub', topic: 'a', data: 1, id: 1 })).toMatchObject({ op: 'msg' });
    c.close();
  });
});
