// RingServer.adopt with dupFd, as --workers uses it: one acceptor on the main thread (Node's net,
// paused sockets), each accepted fd copied with dupFd, the Node socket destroyed, the copy adopted
// by a RingServer that never listened, here or in a worker thread; a real ws client then completes
// its handshake and echoes. What is not a connected TCP socket is refused and closed, and a worker
// terminated with connections open closes them at once, leaking no fd.
import { openSync, readdirSync } from 'node:fs';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { constants } from 'node:os';
import { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { sleep, until } from '../helpers/client.js';
import { transports } from '../helpers/server.js';
import { configWith } from '../../server/config.js';
import { loadAddon, nativeOptions, type Batch, type NativeRingServer } from '../../server/transport/native.js';
import { EventKind, eventConn, eventKind, messageData, RECORD_SLOTS, requestIsUpgrade } from '../../server/transport/native.js';
import { watchLoop } from '../helpers/loop.js';

const { errno } = constants;
const ESHUTDOWN = 108; // Linux's; not among os.constants.errno
const openFds = () => readdirSync('/proc/self/fd').length;
const options = () => nativeOptions(configWith({ ringSlots: 64, sqEntries: 256, cqEntries: 1024, recvBuffers: 64 }));

/** The fd of a paused Node socket, copied; the socket is destroyed (its fd closed). */
function takeFd(socket: Socket, dupFd: (fd: number) => number): number {
  const fd = (socket as unknown as { _handle: { fd: number } })._handle.fd;
  const copy = dupFd(fd);
  socket.destroy();
  return copy;
}

/** A net.Server on 127.0.0.1:0 that hands every connection's fd to `give`. */
async function acceptor(give: (fd: number) => void, dupFd: (fd: number) => number): Promise<{ server: Server; port: number }> {
  const server = createServer({ pauseOnConnect: true }, (socket) => give(takeFd(socket, dupFd)));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port };
}

/** A ws client that echoes `text` through the server on port, left open. */
async function echoes(port: number, text: string): Promise<WebSocket> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`);
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  const back = new Promise<string>((resolve) => ws.once('message', (data) => resolve(String(data))));
  ws.send(text);
  expect(await back).toBe(text);
  return ws;
}

const textFrame = (payload: Buffer) => Buffer.concat([Buffer.from([0x81, payload.length]), payload]);

describe.skipIf(!transports.includes('uring'))('RingServer.adopt', () => {
  const cleanup: (() => unknown)[] = [];
  afterEach(async () => {
    for (const f of cleanup.splice(0).reverse()) await f();
  });

  it('serves a socket accepted by net on the main thread, without listen()', async () => {
    const { addon } = loadAddon();
    const ids: number[] = [];
    const native: NativeRingServer = new addon!.RingServer(options(), (batch: Batch) => {
      for (let i = 0; i < batch.length; i += RECORD_SLOTS) {
        if (eventKind(batch, i) === EventKind.Request && requestIsUpgrade(batch, i)) native.acceptUpgrade(eventConn(batch, i));
        if (eventKind(batch, i) === EventKind.Message) native.send(eventConn(batch, i), textFrame(messageData(batch, i)));
      }
    });
    cleanup.push(() => native.destroy());
    const { server, port } = await acceptor((fd) => ids.push(native.adopt(fd)), addon!.dupFd);
    cleanup.push(() => new Promise((r) => server.close(r)));

    const ws = await echoes(port, 'hello');
    expect(ids).toHaveLength(1);
    expect(ids[0]).toBeGreaterThanOrEqual(0);
    expect(native.stats().accepted).toBe(1);
    ws.close();
    await until(() => native.stats().liveSlots === 0);
  });

  it('refuses what is not a connected TCP socket with -errno, and closes it', async () => {
    const { addon } = loadAddon();
    const native = new addon!.RingServer(options(), () => undefined);
    cleanup.push(() => native.destroy());
    const before = openFds();
    expect(native.adopt(-1)).toBe(-errno.EBADF);
    const listening = createServer();
    await new Promise<void>((resolve) => listening.listen(0, '127.0.0.1', resolve));
    const handle = (listening as unknown as { _handle: { fd: number } })._handle;
    expect(native.adopt(addon!.dupFd(handle.fd))).toBe(-errno.EINVAL);
    await new Promise((r) => listening.close(r));
    expect(addon!.dupFd(-1)).toBe(-errno.EBADF);
    const file = openSync('/dev/null', 'r');
    expect(native.adopt(file)).toBe(-errno.ENOTSOCK);
    expect(addon!.closeFd(file)).toBe(-errno.EBADF); // adopt closed it
    const copy = addon!.dupFd(0);
    expect(copy).toBeGreaterThan(2);
    expect(addon!.closeFd(copy)).toBe(0);
    expect(openFds()).toBe(before);
    expect(native.stats().accepted).toBe(0);
    expect(() => native.adopt('3' as never)).toThrow(TypeError);
  });

  it('closes the fd and returns -ESHUTDOWN after stopAccepting() and after destroy()', async () => {
    const { addon } = loadAddon();
    const native = new addon!.RingServer(options(), () => undefined);
    const fds: number[] = [];
    const { server, port } = await acceptor((fd) => fds.push(fd), addon!.dupFd);
    cleanup.push(() => new Promise((r) => server.close(r)));
    const clients = [0, 1].map(() => new WebSocket(`ws://127.0.0.1:${port}/ws`).on('error', () => undefined));
    const closed = clients.map((ws) => new Promise((resolve) => ws.once('close', resolve)));
    await until(() => fds.length === 2);
    native.stopAccepting();
    expect(native.adopt(fds[0]!)).toBe(-ESHUTDOWN);
    native.destroy();
    expect(native.adopt(fds[1]!)).toBe(-ESHUTDOWN);
    for (const fd of fds) expect(addon!.closeFd(fd)).toBe(-errno.EBADF);
    await Promise.all(closed); // both clients see their connection end
  });

  it('refuses workers below 1', () => {
    const { addon } = loadAddon();
    expect(() => new addon!.RingServer({ ...options(), workers: 0 }, () => undefined)).toThrow(/workers must be a number >= 1/);
    const { workers: _, ...without } = options();
    expect(() => new addon!.RingServer(without as never, () => undefined)).toThrow(/workers is missing/);
  });

  describe('in a worker thread', () => {
    async function start() {
      const worker = new Worker(new URL('../fixtures/adopt-worker.mjs', import.meta.url), { workerData: { options: options() } });
      await new Promise((resolve, reject) => worker.once('message', resolve).once('error', reject));
      const adopted: number[] = [];
      worker.on('message', ({ id }: { id: number }) => adopted.push(id));
      const { addon } = loadAddon();
      const { server, port } = await acceptor((fd) => worker.postMessage({ fd }), addon!.dupFd);
      return { worker, server, port, adopted };
    }

    it('completes the handshake and echoes on a socket the main thread accepted', async () => {
      const { worker, server, port, adopted } = await start();
      cleanup.push(
        () => new Promise((r) => server.close(r)),
        () => worker.terminate(),
      );
      const clients = [await echoes(port, 'one'), await echoes(port, 'two')];
      expect(adopted).toHaveLength(2);
      expect(adopted.every((id) => id >= 0)).toBe(true);
      for (const ws of clients) ws.close();
    });

    it('closes every connection and fd when terminated, without stalling the main thread', async () => {
      const before = openFds();
      const { worker, server, port } = await start();
      const clients = await Promise.all([1, 2, 3].map((i) => echoes(port, `client ${i}`)));
      const closed = clients.map((ws) => new Promise((resolve) => ws.once('close', resolve)));
      // messages keep arriving while the worker's environment is torn down, when JavaScript can
      // no longer run there: the ring's wake-up must not try to (it was a fatal error)
      const chatter = setInterval(() => {
        for (const ws of clients) if (ws.readyState === WebSocket.OPEN) ws.send('x');
      }, 1);
      const watch = watchLoop(); // the main thread's turns, in CPU time (helpers/loop.ts)
      const began = performance.now();
      await worker.terminate();
      const terminated = performance.now() - began;
      await Promise.race([Promise.all(closed), sleep(5000)]);
      const seen = performance.now() - began;
      const lag = watch.stop().cpuMs;
      clearInterval(chatter);
      // generous wall-clock bounds (a busy machine stretches them); the failure they guard
      // against was a fatal error or a teardown of 2 s per ring, not a slow one
      expect(terminated, 'Worker.terminate() resolved within 5 s').toBeLessThan(5000);
      expect(seen, 'every client saw its connection end within 5 s').toBeLessThan(5000);
      expect(lag, 'the main thread went on turning').toBeLessThan(300);
      await new Promise((r) => server.close(r));
      await until(() => openFds() <= before, 2000).catch(() => undefined);
      expect(openFds()).toBeLessThanOrEqual(before);
    });
  });
});
