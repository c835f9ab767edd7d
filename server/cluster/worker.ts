// A worker thread of `--workers N`: one RingcastServer with its own transport (its own io_uring
// ring), its own connections and its own hub, fed by the main thread's acceptor and numbered by
// the main thread's broker. Signals belong to the main thread: it tells a worker to drain.
import { parentPort, workerData } from 'node:worker_threads';
import type { Config } from '../config.js';
import { SharedAdmission } from '../http/upgrade.js';
import { createLogger } from '../log.js';
import { installMemoryProbe } from '../memory-probe.js';
import { RingcastServer } from '../server.js';
import { primeProbe } from '../transport/select.js';
import { UringTransport } from '../transport/uring.js';
import { answer as opsAnswer } from '../ops/hub-view.js';
import { CELL_LOAD, cellAdmission, cellConsumed, type ToMain, type ToWorker, type WorkerData } from './messages.js';
import { MainLink } from './main-link.js';
import { BrokerProxy } from './broker-proxy.js';

const data = workerData as WorkerData;
const port = parentPort!;
const config = data.config as Config;
const log = createLogger(config.logLevel).child({ worker: data.index });
const post = (m: ToMain) => port.postMessage(m);

process.on('unhandledRejection', (err: unknown) => {
  log.error({ event: 'unhandled_rejection', err: err instanceof Error ? err.stack : String(err) }, 'unhandled rejection');
});

installMemoryProbe();
primeProbe(data.probe);
const cells = new Int32Array(data.cells);
const handoff = new Int32Array(data.handoff);
const link = new MainLink(port, data.view);
const broker = new BrokerProxy(link, data.brokerInProcess);
const server = new RingcastServer(config, log, {
  index: data.index,
  workers: data.workers,
  link,
  broker,
  sqpollAttach: data.sqpollAttach,
  admission: new SharedAdmission(cells, cellAdmission(data.workers, 0), data.workers, cellAdmission(data.workers, data.index)),
});
server.transport.onSocketClosed = () => Atomics.sub(cells, CELL_LOAD + data.index, 1);
link.onConnection = (slot) => {
  // the main thread may have taken the fd back (it does when this worker dies): whoever
  // swaps the slot to -1 owns the fd
  const fd = Atomics.exchange(handoff, slot, -1);
  if (fd < 0) return;
  if (!server.adopt(fd)) Atomics.sub(cells, CELL_LOAD + data.index, 1);
};

port.on('message', (m: ToWorker) => {
  switch (m.t) {
    case 'batch':
      link.receive(m.items);
      Atomics.add(cells, cellConsumed(data.workers, data.index), 1); // the main thread counts what this worker still has to take in
      return;
    case 'view':
      return link.setView(m.view);
    case 'collect':
      void server.metrics.registry.getMetricsAsJSON().then((metrics) => post({ t: 'collected', id: m.id, metrics }));
      return;
    case 'restore':
      broker.restored().then(
        () => post({ t: 'restored', id: m.id }),
        (err: unknown) => post({ t: 'restored', id: m.id, error: err instanceof Error ? err.message : String(err) }),
      );
      return;
    case 'ops':
      return post({ t: 'ops', id: m.id, answer: opsAnswer(server.hub, m.ask, data.index) });
    case 'drain':
      server.drain().then(
        () => post({ t: 'drained' }),
        (err: unknown) => {
          log.error({ event: 'drain_failed', err: String(err) }, 'drain failed');
          post({ t: 'drained' });
        },
      );
      return;
    case 'stall':
      // blocks this thread's event loop, as a long synchronous job or GC pause would
      if (data.faultInjection.startsWith('stall')) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, m.ms);
      return;
    case 'crash':
      if (data.faultInjection === '1')
        setImmediate(() => {
          throw new Error(`fault injected into worker ${data.index}`);
        });
      return;
  }
});

if (data.faultInjection === 'start' && data.index === data.workers - 1)
  throw new Error(`fault injected into worker ${data.index} at start`);
await server.startWorker();
const ringFd = server.transport instanceof UringTransport ? server.transport.ringFd() : -1;
post({ t: 'ready', features: server.transport.features, ringFd });
