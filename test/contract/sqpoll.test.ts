// --sqpoll on the uring transport: a kernel thread takes the ring's submissions. The server
// serves a publish/subscribe round trip, and another after a pause past the thread's idle time
// (it sleeps, and the next submission must wake it); rings share one SQ thread through
// sqpollAttach = ringFd(); a ring the kernel refuses to attach falls back to a thread of its own.
import { readdirSync, readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { sleep, until } from '../helpers/client.js';
import { serverFixture, transports } from '../helpers/server.js';
import { configWith } from '../../server/config.js';
import { loadAddon, nativeOptions, type NativeRingServer } from '../../server/transport/native.js';
import { openRing } from '../../server/transport/uring.js';

const IDLE_MS = 20;

/** The SQ threads of this process (one vitest fork per file): the kernel names them iou-sqp-<pid>. */
function sqThreads(): number {
  let n = 0;
  for (const tid of readdirSync('/proc/self/task')) {
    try {
      if (readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').startsWith('iou-sqp-')) n++;
    } catch {
      // the thread exited meanwhile
    }
  }
  return n;
}

const small = (sqpoll: number, sqpollAttach = -1) => ({
  ...nativeOptions(configWith({ ringSlots: 64, sqEntries: 256, cqEntries: 1024, recvBuffers: 64, sqpoll }), 1, { sqpollAttach }),
});

describe.skipIf(!transports.includes('uring'))('sqpoll', () => {
  const f = serverFixture('uring');
  const rings: NativeRingServer[] = [];
  afterEach(() => {
    for (const r of rings.splice(0).reverse()) r.destroy();
  });

  it('delivers a publish with --sqpoll, and again after the SQ thread fell asleep', async () => {
    const srv = await f.start({ sqpoll: IDLE_MS });
    expect(String(srv.server.transport.features.ring).split(',')).toContain('sqpoll');
    const [a, p] = [await f.open(), await f.open()];
    await a.request({ op: 'sub', topic: 't', id: 1 });
    p.send({ op: 'pub', topic: 't', data: 'before' });
    expect(await a.next()).toEqual({ op: 'msg', topic: 't', seq: 1, data: 'before' });
    await sleep(IDLE_MS * 10);
    p.send({ op: 'pub', topic: 't', data: 'after' });
    expect(await a.next()).toEqual({ op: 'msg', topic: 't', seq: 2, data: 'after' });
    const text = await (await fetch(`${srv.http}/metrics`)).text();
    expect(text).toMatch(/^ringcast_ring_sq_wakeups_total \d+$/m);
  });

  it('shares one SQ thread between rings attached through ringFd()', async () => {
    const { addon } = loadAddon();
    await until(() => sqThreads() === 0);
    const first = new addon!.RingServer(small(IDLE_MS), () => undefined);
    rings.push(first);
    const second = new addon!.RingServer(small(IDLE_MS, first.ringFd()), () => undefined);
    rings.push(second);
    expect(first.ringInfo().features.split(',')).toContain('sqpoll');
    expect(second.ringInfo().features.split(',')).toEqual(expect.arrayContaining(['sqpoll', 'attached']));
    await until(() => sqThreads() === 1);
    const third = new addon!.RingServer(small(IDLE_MS), () => undefined);
    rings.push(third);
    await until(() => sqThreads() === 2);
  });

  it('refuses an attach to a ring without SQPOLL with the errno, and openRing falls back', () => {
    const { addon } = loadAddon();
    const plain = new addon!.RingServer(small(0), () => undefined);
    rings.push(plain);
    expect(plain.ringInfo().features.split(',')).not.toContain('sqpoll');
    let thrown: unknown;
    try {
      rings.push(new addon!.RingServer(small(IDLE_MS, plain.ringFd()), () => undefined));
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toHaveProperty('errno', 22);
    expect((thrown as Error).message).toMatch(/with SQPOLL attached to ring fd \d+\): Invalid argument/);

    const { native, sqpollRefused } = openRing(
      addon!,
      small(IDLE_MS, plain.ringFd()),
      () => undefined,
      () => undefined,
    );
    rings.push(native);
    const features = native.ringInfo().features.split(',');
    expect(features).toContain('sqpoll');
    expect(features).not.toContain('attached');
    expect(sqpollRefused).toMatch(/Invalid argument; this ring has an SQ thread of its own/);
    expect(() => new addon!.RingServer({ ...small(IDLE_MS), sqpollAttach: -2 }, () => undefined)).toThrow(
      /sqpollAttach must be a number >= -1/,
    );
  });
});
