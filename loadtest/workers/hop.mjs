// The cost of moving one publish to another worker (groundwork for --workers): CPU per message on
// the sending and on the receiving side, for every way one Node worker can hand a frame to
// another:
//
//   pm          worker_threads postMessage, one Buffer per message (structured clone + uv_async)
//   pm-batch    the same, 100 Buffers per postMessage
//   pm-pooled   postMessage of a Buffer that is a slice of Node's 8 KiB pool (what Buffer.from and
//               allocUnsafe give): the clone copies the whole pool ArrayBuffer
//   sab         a SharedArrayBuffer byte ring between two threads; the consumer sleeps in
//               Atomics.waitAsync, the producer Atomics.notify()s when it sleeps; tail
//               published (and a wake made) per message
//   sab-batch   the same, tail published and the consumer woken once per 100 messages
//   sab-view    as sab, but the consumer reads the frame in place instead of copying it out
//               (what native code sending from shared memory would do); the producer's copy in
//               is a JavaScript TypedArray.set into shared memory
//   fork        child_process.fork, serialization 'advanced', process.send per message
//   fork-batch  the same, 100 Buffers per send
//   unix        a unix stream socket between two processes, length-prefixed frames, one
//               write per message
//   unix-batch  the same, 100 frames per write (cork/uncork: one writev)
//
// CPU is the sum_exec_runtime of the sending and of the receiving JavaScript thread
// (/proc/thread-self/schedstat, ns) over the whole stream; "proc" is process.cpuUsage() of the
// process(es), which adds V8's GC and compiler threads and libuv's. The sender keeps at most
// `window` messages unconsumed (the receiver acknowledges every window/4), so memory stays flat.
//
//   node loadtest/workers/hop.mjs                       # every mechanism, 64 B and 16 KiB
//   node loadtest/workers/hop.mjs --mech sab --size 64 --count 200000
//   node loadtest/workers/hop.mjs --window 1            # one in flight: a wake per message
//
// Each measurement runs in a fresh process under nice -n 10.
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { fork, spawnSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import net from 'node:net';
import os from 'node:os';
import { join } from 'node:path';

const self = fileURLToPath(import.meta.url);
const threadNs = () => Number(readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ')[0]);
const procUs = () => {
  const u = process.cpuUsage();
  return u.user + u.system;
};
const BATCH = 100;

function parseArgs(argv) {
  const a = {};
  for (let i = 0; i < argv.length; i++) if (argv[i].startsWith('--')) a[argv[i].slice(2)] = argv[i + 1];
  return a;
}

// ---------------------------------------------------------------- the receiving side
// Counts messages, touches each (first byte), acknowledges every `ackEvery`, and reports its
// thread CPU, process CPU and event-loop utilisation from the first message to the last.
function receiver(total, ackEvery, ack, report) {
  let got = 0,
    sum = 0,
    t0 = 0,
    p0 = 0,
    e0 = null,
    w0 = 0;
  return (msg) => {
    if (got === 0) {
      t0 = threadNs();
      p0 = procUs();
      e0 = performance.eventLoopUtilization();
      w0 = performance.now();
    }
    sum += msg[0];
    got++;
    if (got % ackEvery === 0 || got === total) ack(got);
    if (got === total) {
      const elu = performance.eventLoopUtilization(e0);
      report({ rxThreadNs: threadNs() - t0, rxProcUs: procUs() - p0, rxElu: elu.utilization, rxWallMs: performance.now() - w0, sum });
    }
  };
}

// SharedArrayBuffer ring: Int32 header [tail, head, rxWaiting, txWaiting, consumed, -, -, -],
// then CAP bytes.
// Positions count bytes modulo 2^31; a record is [u32 len][payload] padded to 4; a len of
// 0xffffffff means "wrapped: continue at offset 0".
const TAIL = 0,
  HEAD = 1,
  RXW = 2,
  TXW = 3,
  CONSUMED = 4;
const CAP = 8 << 20;
const MASK = 0x7fffffff;
const WRAP = 0xffffffff;

async function sabConsumer(sab, total, report, copyOut) {
  const hdr = new Int32Array(sab, 0, 8);
  const data = new Uint8Array(sab, 32, CAP);
  const dv = new DataView(sab, 32, CAP);
  const rx = receiver(total, Infinity, () => {}, report);
  let head = 0,
    got = 0;
  while (got < total) {
    let tail = Atomics.load(hdr, TAIL);
    if (tail === head) {
      Atomics.store(hdr, RXW, 1);
      tail = Atomics.load(hdr, TAIL);
      if (tail === head) {
        const w = Atomics.waitAsync(hdr, TAIL, head);
        if (w.async) await w.value;
      }
      Atomics.store(hdr, RXW, 0);
      continue;
    }
    while (head !== tail) {
      let off = head & (CAP - 1);
      let len = dv.getUint32(off, true);
      if (len === WRAP) {
        head = (head + (CAP - off)) & MASK;
        continue;
      }
      // sab: copy out, the consumer owns a Buffer it may hand on (as the clone of postMessage
      // gives); sab-view: a view into the ring, as native code would send from shared memory
      const view = data.subarray(off + 4, off + 4 + len);
      const msg = copyOut ? Buffer.from(view) : view;
      head = (head + 4 + ((len + 3) & ~3)) & MASK;
      got++;
      rx(msg);
    }
    Atomics.store(hdr, CONSUMED, got);
    Atomics.store(hdr, HEAD, head);
    if (Atomics.load(hdr, TXW) === 1) {
      Atomics.store(hdr, TXW, 0);
      Atomics.notify(hdr, HEAD);
    }
  }
}

// ---------------------------------------------------------------- the sending side
async function sendAll({ mech, size, count, window }) {
  // 128 distinct Buffers, each with its own ArrayBuffer, used in turn: a clone copies `size` bytes
  // per message (one Buffer sent 100 times in a batch would be cloned once: the serializer keeps
  // object identity)
  const frames = Array.from({ length: 128 }, (_, i) => Buffer.alloc(size, i));
  const payload = frames[0];
  let turn = 0;
  const pooled = () => Buffer.from(payload.subarray(0, Math.min(size, 64))); // a slice of the pool
  const ackEvery = Math.max(1, Math.floor(window / 4));
  const batched = mech.endsWith('-batch');
  let acked = 0,
    wake = null;
  const onAck = (n) => {
    acked = n;
    if (wake) wake();
  };
  const waitWindow = (sent) =>
    sent - acked < window ? null : new Promise((r) => (wake = () => sent - acked < window && ((wake = null), r())));

  let result, link, close;
  const done = new Promise((r) => (result = r));

  if (mech.startsWith('pm') || mech.startsWith('sab')) {
    const sab = mech.startsWith('sab') ? new SharedArrayBuffer(32 + CAP) : null;
    const w = new Worker(self, { workerData: { role: 'thread-rx', mech, count, ackEvery, sab } });
    w.on('message', (m) => (m.ack !== undefined ? onAck(m.ack) : result(m)));
    w.on('error', (e) => {
      console.error(e);
      process.exit(1);
    });
    await new Promise((r) => w.once('online', r));
    await new Promise((r) => setTimeout(r, 50));
    if (sab) {
      link = sabProducer(sab, batched, window);
    } else {
      link = (m) => w.postMessage(m);
    }
    close = () => w.terminate();
  } else if (mech.startsWith('fork')) {
    const c = fork(self, ['--role', 'fork-rx', '--count', String(count), '--ackEvery', String(ackEvery)], {
      serialization: 'advanced',
      execArgv: [],
    });
    const ready = new Promise((r) => c.once('message', r));
    c.on('message', (m) => (m === 'ready' ? null : m.ack !== undefined ? onAck(m.ack) : result(m)));
    await ready;
    link = (m) => c.send(m);
    close = () => c.kill();
  } else if (mech.startsWith('unix')) {
    const path = join(os.tmpdir(), `hop-${process.pid}.sock`);
    rmSync(path, { force: true });
    const server = net.createServer();
    await new Promise((r) => server.listen(path, r));
    const c = fork(self, ['--role', 'unix-rx', '--count', String(count), '--ackEvery', String(ackEvery), '--path', path], {
      execArgv: [],
    });
    c.on('message', (m) => (m.ack !== undefined ? onAck(m.ack) : result(m)));
    const sock = await new Promise((r) => server.once('connection', r));
    sock.setNoDelay(true);
    // acks come back on the socket as 4-byte counts (the IPC channel only carries the report)
    let pend = Buffer.alloc(0);
    sock.on('data', (d) => {
      pend = pend.length ? Buffer.concat([pend, d]) : d;
      while (pend.length >= 4) {
        onAck(pend.readUInt32LE(0));
        pend = pend.subarray(4);
      }
    });
    const hdrs = [];
    link = (m) => {
      if (Array.isArray(m)) {
        sock.cork();
        for (const x of m) writeFrame(sock, x, hdrs);
        sock.uncork();
      } else {
        writeFrame(sock, m, hdrs);
      }
    };
    close = () => {
      sock.destroy();
      server.close();
      c.kill();
      rmSync(path, { force: true });
    };
  } else {
    throw new Error(`unknown mech ${mech}`);
  }

  const t0 = threadNs(),
    p0 = procUs(),
    w0 = performance.now();
  let sent = 0;
  const make = mech === 'pm-pooled' ? pooled : () => frames[turn++ & 127];
  if (mech.startsWith('sab')) {
    // the producer does its own flow control on the ring's head
    await link.run(count, make);
    sent = count;
  } else {
    while (sent < count) {
      const wait = waitWindow(sent + (batched ? BATCH : 1) - 1);
      if (wait) await wait;
      if (batched) {
        const n = Math.min(BATCH, count - sent);
        const arr = new Array(n);
        for (let i = 0; i < n; i++) arr[i] = make();
        link(arr);
        sent += n;
      } else {
        link(make());
        sent++;
      }
    }
  }
  const rx = await done;
  const txThreadNs = threadNs() - t0,
    txProcUs = procUs() - p0,
    wallMs = performance.now() - w0;
  close();
  return { mech, size, count, window, txThreadNs, txProcUs, wallMs, ...rx };
}

function writeFrame(sock, m, _hdrs) {
  const h = Buffer.allocUnsafe(4);
  h.writeUInt32LE(m.length, 0);
  sock.write(h);
  sock.write(m);
}

function sabProducer(sab, batched, window) {
  const hdr = new Int32Array(sab, 0, 8);
  const data = new Uint8Array(sab, 32, CAP);
  const dv = new DataView(sab, 32, CAP);
  let tail = 0;
  const publish = () => {
    Atomics.store(hdr, TAIL, tail);
    if (Atomics.load(hdr, RXW) === 1) Atomics.notify(hdr, TAIL);
  };
  const free = () => CAP - ((tail - Atomics.load(hdr, HEAD)) & MASK);
  return {
    async run(count, make) {
      for (let i = 0; i < count; i++) {
        const m = make();
        const need = 4 + ((m.length + 3) & ~3);
        let off = tail & (CAP - 1);
        const wrap = off + need > CAP ? CAP - off : 0;
        const full = () => free() < need + wrap + 4 || i - Atomics.load(hdr, CONSUMED) >= window;
        while (full()) {
          publish();
          Atomics.store(hdr, TXW, 1);
          const h = Atomics.load(hdr, HEAD);
          if (!full()) break;
          const w = Atomics.waitAsync(hdr, HEAD, h);
          if (w.async) await w.value;
        }
        if (wrap) {
          dv.setUint32(off, WRAP, true);
          tail = (tail + wrap) & MASK;
          off = 0;
        }
        dv.setUint32(off, m.length, true);
        data.set(m, off + 4);
        tail = (tail + need) & MASK;
        if (!batched || (i + 1) % BATCH === 0 || i + 1 === count) publish();
      }
    },
  };
}

// ---------------------------------------------------------------- roles
async function main() {
  if (!isMainThread) {
    const { mech, count, ackEvery, sab } = workerData;
    const report = (r) => parentPort.postMessage(r);
    if (sab) {
      // Atomics.waitAsync does not keep a Node event loop alive: a listening port does
      parentPort.on('message', () => {});
      await sabConsumer(sab, count, report, !mech.includes('view'));
      return;
    }
    const rx = receiver(count, ackEvery, (n) => parentPort.postMessage({ ack: n }), report);
    parentPort.on('message', (m) => {
      if (Array.isArray(m)) for (const x of m) rx(x);
      else rx(m);
    });
    return;
  }
  const a = parseArgs(process.argv.slice(2));
  if (a.role === 'fork-rx') {
    const rx = receiver(
      Number(a.count),
      Number(a.ackEvery),
      (n) => process.send({ ack: n }),
      (r) => process.send(r),
    );
    process.on('message', (m) => {
      if (Array.isArray(m)) for (const x of m) rx(x);
      else rx(m);
    });
    process.send('ready');
    return;
  }
  if (a.role === 'unix-rx') {
    const sock = net.connect(a.path);
    sock.setNoDelay(true);
    const rx = receiver(
      Number(a.count),
      Number(a.ackEvery),
      (n) => {
        const b = Buffer.allocUnsafe(4);
        b.writeUInt32LE(n, 0);
        sock.write(b);
      },
      (r) => process.send(r),
    );
    let pend = null;
    sock.on('data', (d) => {
      let buf = pend ? Buffer.concat([pend, d]) : d;
      let off = 0;
      while (buf.length - off >= 4) {
        const len = buf.readUInt32LE(off);
        if (buf.length - off - 4 < len) break;
        rx(buf.subarray(off + 4, off + 4 + len));
        off += 4 + len;
      }
      pend = off < buf.length ? buf.subarray(off) : null;
    });
    process.on('message', () => {});
    return;
  }
  if (a.mech) {
    const size = Number(a.size ?? 64);
    const count = Number(a.count ?? 100000);
    const window = Number(a.window ?? Math.max(64, Math.min(4096, Math.floor((4 << 20) / size))));
    const r = await sendAll({ mech: a.mech, size, count, window });
    console.log('RESULT ' + JSON.stringify(r));
    process.exit(0);
  }
  // orchestrator: one fresh niced process per (mechanism, size)
  const mechs = (a.mechs ?? 'pm,pm-batch,pm-pooled,sab,sab-batch,sab-view,fork,fork-batch,unix,unix-batch').split(',');
  const sizes = (a.sizes ?? '64,16384').split(',').map(Number);
  const rows = [];
  for (const size of sizes) {
    for (const mech of mechs) {
      if (mech === 'pm-pooled' && size > 64) continue;
      const extra = [];
      if (a.count) extra.push('--count', a.count);
      if (a.window) extra.push('--window', a.window);
      const p = spawnSync('nice', ['-n', '10', process.execPath, self, '--mech', mech, '--size', String(size), ...extra], {
        encoding: 'utf8',
        timeout: 60000,
      });
      const line = (p.stdout || '').split('\n').find((l) => l.startsWith('RESULT '));
      if (!line) {
        console.error(`${mech} ${size}: failed`, p.stderr, p.error);
        continue;
      }
      const r = JSON.parse(line.slice(7));
      rows.push(r);
      const us = (ns) => (ns / 1000 / r.count).toFixed(2);
      console.log(
        `| ${mech} | ${size} | ${r.count} | ${r.window} | ${us(r.txThreadNs)} | ${us(r.rxThreadNs)} | ` +
          `${mech.startsWith('pm') || mech.startsWith('sab') ? (r.txProcUs / r.count).toFixed(2) : ((r.txProcUs + r.rxProcUs) / r.count).toFixed(2)} | ` +
          `${(r.rxElu * 100).toFixed(0)}% | ${Math.round(r.count / (r.wallMs / 1000)).toLocaleString('en')} | ${(r.wallMs / 1000).toFixed(1)} |`,
      );
    }
  }
  console.log('JSON ' + JSON.stringify(rows));
}

if (isMainThread && !process.argv.includes('--role') && !process.argv.includes('--mech')) {
  console.log(
    '| mech | bytes | messages | window | tx thread µs/msg | rx thread µs/msg | both processes µs/msg | rx ELU | msgs/s | wall s |',
  );
  console.log('|---|---|---|---|---|---|---|---|---|---|');
}
main();
