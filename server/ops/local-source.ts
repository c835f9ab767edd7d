// The ops page's view of a server that runs on one thread: its own hub and registry.
import type { RingcastServer } from '../server.js';
import { answer } from './hub-view.js';
import type { OpsSource } from './source.js';

export function localSource(server: RingcastServer): OpsSource {
  const startedAt = Date.now();
  return {
    metrics: () => server.metrics.registry.getMetricsAsJSON(),
    node: () => {
      const broker = server.brokerHealth();
      return {
        transport: server.transportName,
        connections: server.transport.connectionCount(),
        uptimeSeconds: Math.round((Date.now() - startedAt) / 1000),
        state: server.isDraining ? 'down' : broker.state === 'up' ? 'up' : 'degraded',
        broker,
        workers: [],
      };
    },
    ask: async (ask) => [answer(server.hub, ask, null)],
  };
}
