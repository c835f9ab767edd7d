// What the ops stream says of a cluster: a worker whose event loop is blocked turns stalled
// within the probe interval and up again after; a node that dies turns silent on the other
// node's page within three probe intervals. Real processes, a real Redis.
import { afterEach, describe, expect, it } from 'vitest';
import { startCli } from '../helpers/cli.js';
import { describeWithRedis, redisFixture } from '../helpers/redis.js';
import { bearer, EventStream, opsPort } from './helpers.js';

const KEY = 'ops-cluster-key';
const streams: EventStream[] = [];
afterEach(() => {
  for (const s of streams.splice(0)) s.close();
});

async function watch(port: number): Promise<EventStream> {
  const s = new EventStream(port, bearer(KEY));
  streams.push(s);
  await s.ready;
  expect(s.status).toBe(200);
  return s;
}

describe('the ops stream of --workers 2', () => {
  it('shows a worker whose event loop is blocked as stalled, then up again', async () => {
    const cli = startCli(['--port', '0', '--workers', '2', '--ops', '--ops-port', '0', '--api-key', KEY], {
      RINGCAST_FAULT_INJECTION: 'stall',
    });
    await cli.listening;
    const s = await watch(await opsPort(cli));
    await s.until((e) => e.self.workers.length === 2 && e.self.workers.every((w) => w.state === 'up'));
    cli.child.kill('SIGUSR2'); // worker 1 blocks its event loop for 2 s
    const stalled = await s.until((e) => e.self.workers[1]!.state === 'stalled');
    expect(stalled.self.workers[0]!.state).toBe('up');
    expect(stalled.self.state).toBe('degraded');
    await s.until((e) => e.t > stalled.t && e.self.workers[1]!.state === 'up' && e.self.state === 'up');
  });
});

describeWithRedis('the ops stream of two nodes on Redis', () => {
  const r = redisFixture();

  it('lists both nodes, and the other as silent once it is killed', async () => {
    const start = () => startCli(['--port', '0', '--broker', r.redis.url, '--ops', '--ops-port', '0', '--api-key', KEY]);
    const a = start();
    const b = start();
    const portB = (await b.listening).port as number;
    await a.listening;
    const s = await watch(await opsPort(a));
    const both = await s.until((e) => e.nodes?.length === 2 && e.nodes.every((n) => n.answering));
    const idB = both.nodes!.find((n) => n.row.id.endsWith(`:${portB}`))!.row.id;
    b.child.kill('SIGKILL');
    const killed = Date.now();
    const silent = await s.until((e) => e.nodes!.some((n) => n.row.id === idB && !n.answering));
    // three probe intervals, and the second the sampler may take: no tighter bound holds on a busy machine
    expect(silent.nodes!.find((n) => n.row.id === idB)!.silentSeconds).toBeGreaterThanOrEqual(3);
    expect(Date.now() - killed).toBeGreaterThanOrEqual(2000);
    expect(silent.nodes!.find((n) => n.row.id !== idB)!.answering).toBe(true);
  });
});
