// The generator end to end against real servers on loopback: the ws peer (correct), and small
// servers that break the protocol on purpose, so a lost, duplicated or reordered delivery and a
// bad handshake are shown to be caught, not just counted by code nobody has seen fire.
// Run: make -C loadtest e2e (builds the generator; needs ws, from the repo root or peers/).
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import http from 'node:http';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { WebSocketServer } from 'ws';

const loadtest = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const binary = path.join(loadtest, 'build', 'ringcast-loadgen');

function loadgen(port, flags) {
  return new Promise((resolve) => {
    const child = spawn(binary, ['--url', `ws://127.0.0.1:${port}/ws`, '--quiet', ...flags]);
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('exit', (code) => resolve({ code, summary: JSON.parse(out.trim()), stderr: err }));
  });
}

/** A protocol v1 pub/sub server whose fanout can be bent by `deliver(frame, seq, members)`. */
function startServer({ deliver, accept, perMessageDeflate = false } = {}) {
  const server = http.createServer();
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate });
  const topics = new Map();
  const seqs = new Map();
  server.on('upgrade', (req, socket, head) => {
    socket.on('error', () => undefined); // a client that drops the connection resets it: not a test failure
    if (accept) return accept(req, socket);
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws));
  });
  wss.on('connection', (ws) => {
    ws.on('message', (raw) => {
      const m = JSON.parse(raw);
      if (m.op === 'sub') {
        if (!topics.has(m.topic)) topics.set(m.topic, new Set());
        topics.get(m.topic).add(ws);
        ws.send(JSON.stringify({ op: 'ack', id: m.id }));
      } else if (m.op === 'pub') {
        const seq = (seqs.get(m.topic) ?? 0) + 1;
        seqs.set(m.topic, seq);
        const frame = JSON.stringify({ op: 'msg', topic: m.topic, seq, data: m.data });
        const members = [...(topics.get(m.topic) ?? [])];
        (deliver ?? ((f, s, all) => all.forEach((w) => w.send(f))))(frame, seq, members);
        ws.send(JSON.stringify({ op: 'ack', id: m.id, seq }));
      }
    });
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({
        port: server.address().port,
        close: () => {
          wss.clients.forEach((c) => c.terminate());
          server.close();
        },
      }),
    ),
  );
}

const short = ['--warmup', '0.2', '--duration', '0.5', '--drain-timeout', '2'];

before(() => {
  const r = spawnSync('make', ['-s', '-C', loadtest], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
});

test('a correct server yields deliveries with no anomaly, closed and open loop', async () => {
  const srv = await startServer();
  after(srv.close);
  const closed = await loadgen(srv.port, ['--subscribers', '50', '--topics', '5', '--window', '4', ...short]);
  assert.equal(closed.code, 0, closed.stderr);
  assert.ok(closed.summary.deliveries > 0);
  assert.equal(closed.summary.deliveries_total, closed.summary.expected_total);
  assert.deepEqual([closed.summary.lost, closed.summary.duplicated, closed.summary.reordered], [0, 0, 0]);
  const open = await loadgen(srv.port, [
    '--subscribers',
    '20',
    '--mode',
    'open',
    '--rate',
    '400',
    '--batch',
    '8',
    '--size',
    '16384',
    ...short,
  ]);
  assert.equal(open.code, 0, open.stderr);
  assert.equal(open.summary.data_bytes, 16384);
  assert.ok(open.summary.latency_us.count > 0 && open.summary.latency_us.p50 > 0);
  assert.equal(open.summary.lost, 0);
});

test('--deflate on negotiates permessage-deflate, inflates every delivery and reads fewer bytes', async () => {
  const srv = await startServer({ perMessageDeflate: { threshold: 0 } });
  after(srv.close);
  const flags = ['--subscribers', '20', '--mode', 'open', '--rate', '100', '--size', '16384', '--payload', 'chat', ...short];
  const plain = await loadgen(srv.port, flags);
  const deflated = await loadgen(srv.port, [...flags, '--deflate', 'on']);
  for (const r of [plain, deflated]) {
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual([r.summary.lost, r.summary.duplicated, r.summary.unexpected ?? 0], [0, 0, 0]);
  }
  assert.equal(plain.summary.compressed_messages, 0);
  assert.ok(deflated.summary.compressed_messages >= deflated.summary.deliveries_total);
  const perDelivery = (r) => r.summary.bytes_in / r.summary.deliveries_total;
  assert.ok(perDelivery(deflated) < 0.5 * perDelivery(plain), `${perDelivery(deflated)} vs ${perDelivery(plain)}`);
});

test('a server that skips one subscriber once is caught as lost', async () => {
  const srv = await startServer({ deliver: (f, seq, all) => all.forEach((w, i) => (seq === 3 && i === 0 ? null : w.send(f))) });
  after(srv.close);
  const r = await loadgen(srv.port, ['--subscribers', '10', '--mode', 'open', '--rate', '50', ...short]);
  assert.equal(r.summary.lost, 1);
});

test('a server that sends a message twice, or swaps two, is caught', async () => {
  let held = null;
  const srv = await startServer({
    deliver: (f, seq, all) => {
      if (seq === 2) all.forEach((w) => w.send(f)); // duplicate
      if (seq === 4) {
        held = f;
        return;
      } // send 4 after 5: reordered
      all.forEach((w) => w.send(f));
      if (seq === 5 && held) all.forEach((w) => w.send(held));
    },
  });
  after(srv.close);
  const r = await loadgen(srv.port, ['--subscribers', '5', '--mode', 'open', '--rate', '50', ...short]);
  assert.equal(r.summary.duplicated, 5);
  assert.equal(r.summary.reordered, 5);
  assert.equal(r.summary.lost, 0);
});

test('a wrong Sec-WebSocket-Accept fails the connect phase with the reason', async () => {
  const srv = await startServer({
    accept: (_req, socket) =>
      socket.end(
        'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n' +
          'Connection: Upgrade\r\nSec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n\r\n',
      ),
  });
  after(srv.close);
  const r = await loadgen(srv.port, ['--subscribers', '3', ...short]);
  assert.equal(r.code, 1);
  assert.match(r.summary.error, /bad Sec-WebSocket-Accept/);
});
