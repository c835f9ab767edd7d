// clients: a process that holds TCP connections to 127.0.0.1:PORT for spread.mjs.
// Commands on stdin: "open K" -> opens K more (at most 512 connecting at once), answers
// "opened K failed F live L"; "live" -> "live L"; "quit".
// Run with the soft RLIMIT_NOFILE raised (ulimit -n 20000): 10,000 sockets are 10,000 fds.
import net from 'node:net';
import { createInterface } from 'node:readline';

const port = Number(process.argv[2]);
const live = new Set();

function open(k) {
  return new Promise((resolve) => {
    let started = 0,
      done = 0,
      failed = 0,
      inflight = 0;
    const next = () => {
      while (inflight < 512 && started < k) {
        started++;
        inflight++;
        const s = net.connect({ host: '127.0.0.1', port });
        let settled = false;
        const settle = (ok) => {
          if (settled) return;
          settled = true;
          inflight--;
          done++;
          if (!ok) failed++;
          if (done === k) resolve({ failed });
          else next();
        };
        s.on('connect', () => {
          live.add(s);
          settle(true);
        });
        s.on('error', () => settle(false));
        s.on('close', () => {
          live.delete(s);
          settle(false);
        });
      }
    };
    if (k === 0) resolve({ failed: 0 });
    else next();
  });
}

const rl = createInterface({ input: process.stdin });
for await (const line of rl) {
  const [cmd, arg] = line.trim().split(/\s+/);
  if (cmd === 'open') {
    const { failed } = await open(Number(arg));
    // let RSTs of a previous drop land before counting
    await new Promise((r) => setTimeout(r, 50));
    process.stdout.write(`opened ${arg} failed ${failed} live ${live.size}\n`);
  } else if (cmd === 'live') {
    await new Promise((r) => setTimeout(r, 100));
    process.stdout.write(`live ${live.size}\n`);
  } else if (cmd === 'quit') {
    for (const s of live) s.destroy();
    process.exit(0);
  }
}
