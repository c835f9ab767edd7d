// Presence through ringcast/client on every transport: members from a snapshot plus join/leave
// events, once per change, rebuilt after a reconnect and after the server's burst bound.
import { afterEach, describe, expect, it } from 'vitest';
import { RingcastClient, type Member } from '../../server/client/index.js';
import { Client, openClients, until } from '../helpers/client.js';
import { CutProxy } from '../helpers/proxy.js';
import { startServer, transports, type TestServer } from '../helpers/server.js';

describe.each(transports)('presence in ringcast/client on the %s transport', (transport) => {
  let srv: TestServer;
  let proxy: CutProxy | undefined;
  const clients: RingcastClient[] = [];
  const raws: Client[] = [];
  const client = (url = srv.url) => {
    const c = new RingcastClient(url, { minDelay: 20, maxDelay: 100, pingInterval: 0 });
    clients.push(c);
    return c;
  };
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
    for (const c of raws.splice(0)) c.close();
    await proxy?.close();
    proxy = undefined;
    await srv?.close();
  });

  it('keeps the members and reports each join and leave once', async () => {
    srv = await startServer(transport);
    const joins: Member[] = [];
    const leaves: Member[] = [];
    const a = client().subscribe('room', () => undefined, { presence: true, onJoin: (m) => joins.push(m), onLeave: (m) => leaves.push(m) });
    await a.subscribed;
    await until(() => a.members.size === 1);
    expect([...a.members.keys()]).toEqual([a.clientId]);
    const bc = client();
    const b = bc.subscribe('room', () => undefined, { presence: true });
    await b.subscribed;
    await until(() => a.members.size === 2);
    expect(joins.map((m) => m.client)).toEqual([a.clientId, b.clientId]);
    await until(() => b.members.size === 2);
    await bc.close();
    await until(() => leaves.length === 1);
    expect(leaves).toEqual([{ client: b.clientId, user: '' }]);
    expect([...a.members.keys()]).toEqual([a.clientId]);
  });

  it('rebuilds the member list after the server dropped events of a burst (presence_sync)', async () => {
    srv = await startServer(transport, { presenceEvents: 3 });
    const a = client().subscribe('busy', () => undefined, { presence: true });
    await a.subscribed;
    raws.push(...(await openClients(srv.url + '?topics=busy', 12)));
    await until(() => a.members.size === 13, 5000);
  });

  it('sees its own old connection leave and the new one join after a reconnect', async () => {
    srv = await startServer(transport);
    proxy = await CutProxy.start(srv.port);
    const watcher = client().subscribe('r', () => undefined, { presence: true });
    await watcher.subscribed;
    const moved = client(`ws://127.0.0.1:${proxy.port}/ws`).subscribe('r', () => undefined, { presence: true });
    await moved.subscribed;
    await until(() => watcher.members.size === 2 && moved.members.size === 2);
    const before = moved.clientId;
    proxy.cut();
    await until(() => moved.clientId !== before && moved.members.size === 2 && !moved.members.has(before!), 5000);
    await until(() => watcher.members.size === 2 && watcher.members.has(moved.clientId!) && !watcher.members.has(before!));
  });
});
