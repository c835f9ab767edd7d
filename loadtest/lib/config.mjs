// Every knob of the benchmark in one place: the servers, the scenarios and their sizes,
// full and quick, with units. bench.mjs only walks these tables.

/** Servers measured, in report order. `ringcast` servers need the repo's build (dist/). */
export const SERVERS = [
  { name: 'ringcast-uring', kind: 'ringcast', transport: 'uring' },
  { name: 'ringcast-ws', kind: 'ringcast', transport: 'ws' },
  { name: 'ws', kind: 'ws-peer' },
  { name: 'bun', kind: 'bun-peer' },
];

/** CPU the server is pinned to, and the one the generator (or autocannon) is pinned to. */
export const SERVER_CPU = 0;
export const LOADGEN_CPU = 1;

/**
 * Where a run's processes go: a server entry may carry `cpus` (the server's taskset list) and
 * `loadgenCpus` (the generator's); without them, SERVER_CPU and LOADGEN_CPU.
 */
export function placement(server) {
  return { server: server.cpus ?? [SERVER_CPU], loadgen: server.loadgenCpus ?? [LOADGEN_CPU] };
}

/** RLIMIT_NOFILE here is 20,000 for the client and the server alike; keep this many spare. */
export const FD_MARGIN = 200;

/** A run whose generator was busier than this (% of one core) measured the instrument. */
export const INSTRUMENT_LIMIT_PCT = 90;

const SUBS_1K = 1000;
const SUBS_10K = 10000;

/**
 * Scenarios. `loadgen` are generator flags; `timing` (warmup, duration) comes from the profile.
 * kind: 'fanout' runs the generator, 'idle' holds connections and samples RSS, 'http' runs
 * autocannon against POST /publish (ringcast only).
 */
export function scenarios(profile) {
  const quick = profile === 'quick';
  return [
    {
      id: 'fanout-1k-64B',
      title: '1k subscribers x 64 B, closed loop',
      kind: 'fanout',
      // Windows are wide enough that the server always has fanout queued while the generator
      // reads (with 16, both sides were seen idling half the time waiting for each other).
      loadgen: { mode: 'closed', subscribers: SUBS_1K, publishers: 1, topics: 1, size: 64, window: 64 },
    },
    {
      id: 'fanout-10k-64B',
      title: '10k subscribers x 64 B, closed loop',
      kind: 'fanout',
      skipQuick: true,
      loadgen: { mode: 'closed', subscribers: SUBS_10K, publishers: 1, topics: 1, size: 64, window: 16 },
    },
    {
      // 10 topics of 1,000 subscribers, 400 publishes/s in writes of 8 to one topic:
      // 400k deliveries/s, a load every server should carry, so CPU per delivery compares
      // efficiency rather than who saturates first.
      id: 'fixed-400k-10k',
      title: '10k subscribers at 400k deliveries/s, 8 publishes per write',
      kind: 'fanout',
      loadgen: { mode: 'open', subscribers: SUBS_10K, publishers: 1, topics: 10, size: 64, rate: 400, batch: 8 },
      targetDeliveries: 400000,
    },
    {
      // 5 publishes/s to all 10k: 50k deliveries/s, light enough that latency is fanout
      // time and not queueing.
      id: 'latency-10k-open',
      title: '10k subscribers, open loop 50k deliveries/s: latency',
      kind: 'fanout',
      skipQuick: true,
      loadgen: { mode: 'open', subscribers: SUBS_10K, publishers: 1, topics: 1, size: 64, rate: 5, batch: 1 },
      targetDeliveries: 50000,
    },
    {
      id: 'large-1k-16KiB',
      title: '1k subscribers x 16 KiB, closed loop',
      kind: 'fanout',
      loadgen: { mode: 'closed', subscribers: SUBS_1K, publishers: 1, topics: 1, size: 16384, window: 8 },
    },
    {
      // The same chat-like JSON (about 4x compressible) with and without
      // permessage-deflate. deflate 'on' starts every server with it and has the generator
      // offer it (no context takeover) and inflate: CPU per delivery and wire bytes per delivery.
      id: 'chat-1k-16KiB-plain',
      title: '1k subscribers x 16 KiB chat JSON, plain',
      kind: 'fanout',
      skipQuick: true,
      loadgen: { mode: 'closed', subscribers: SUBS_1K, publishers: 1, topics: 1, size: 16384, window: 8, payload: 'chat', deflate: 'off' },
    },
    {
      id: 'chat-1k-16KiB-deflate',
      title: '1k subscribers x 16 KiB chat JSON, permessage-deflate',
      kind: 'fanout',
      skipQuick: true,
      loadgen: { mode: 'closed', subscribers: SUBS_1K, publishers: 1, topics: 1, size: 16384, window: 8, payload: 'chat', deflate: 'on' },
    },
    {
      id: 'idle',
      title: 'idle subscribed connections: server RSS per connection',
      kind: 'idle',
      // Full: as many as RLIMIT_NOFILE allows both processes, computed at run time.
      connections: quick ? 2000 : 'max',
      hold: quick ? 3 : 6,
    },
    {
      id: 'http-publish',
      title: 'HTTP POST /publish (autocannon, 64 connections)',
      kind: 'http',
      only: 'ringcast',
      connections: 64,
      size: 64,
    },
  ].filter((s) => !(quick && s.skipQuick));
}

/** Windows in seconds. budgetMinutes: no run starts after this (the whole bench must fit 15 / 2 min). */
export function timing(profile) {
  return profile === 'quick'
    ? { repeats: 1, warmup: 1, duration: 2, httpDuration: 2, budgetMinutes: 1.75 }
    : { repeats: 3, warmup: 2, duration: 5, httpDuration: 5, budgetMinutes: 13.5 };
}

/**
 * The broker benchmark (npm run bench:broker). nodes 1: subscribers and publishers on
 * one process; nodes 2: publishers on node A, subscribers on node B (the generator's
 * --publish-url), a publish crossing through Redis. Every server-side process (the nodes and
 * redis-server) shares SERVER_CPU; the generator has LOADGEN_CPU to itself. ringcast runs as
 * deployed (--transport auto: uring where the engine runs) and on the ws transport, whose
 * latency at low rates is not the engine's (measured 2026-12-04: uring p50 ~9 ms, ws ~0.4 ms at
 * 1k publishes/s on one node), so the cost of the Redis hop is seen on both.
 */
export const BROKER_SETUPS = [
  { name: 'ringcast-single', kind: 'ringcast', transport: 'auto', nodes: 1, redis: false },
  { name: 'ringcast-redis', kind: 'ringcast', transport: 'auto', nodes: 2, redis: true },
  { name: 'ringcast-single-ws', kind: 'ringcast', transport: 'ws', nodes: 1, redis: false },
  { name: 'ringcast-redis-ws', kind: 'ringcast', transport: 'ws', nodes: 2, redis: true },
  { name: 'ws-redis', kind: 'ws-redis-peer', nodes: 2, redis: true },
];

export function brokerScenarios() {
  return [
    {
      // The latency goal (the Redis hop under 1 ms at p50): 1k publishes/s, light fanout so
      // latency is the path, not queueing.
      id: 'latency-1k-pubs',
      title: '1k publishes/s to 10 topics x 10 subscribers (10k deliveries/s): latency',
      loadgen: { mode: 'open', subscribers: 100, publishers: 1, topics: 10, size: 64, rate: 1000, batch: 1 },
      targetDeliveries: 10000,
    },
    {
      // The throughput goal (5x the peer): deliveries per CPU second of the whole server side.
      id: 'fanout-1k-64B',
      title: '1k subscribers x 64 B, closed loop: throughput',
      loadgen: { mode: 'closed', subscribers: 1000, publishers: 1, topics: 1, size: 64, window: 64 },
    },
  ];
}

/** Windows in seconds; a run takes about 6 s, the whole bench about a minute per repeat. */
export const BROKER_TIMING = { repeats: 1, warmup: 1, duration: 4 };

/**
 * The --workers benchmark (npm run bench:workers), on a 2-core machine whose
 * second core the generator needs. Placement 'one-core': the whole server on CPU 0, the
 * generator alone on CPU 1, so --workers 2 against --workers 1 is the cost of the cross-worker
 * hop (and of three threads taking turns on one core), nothing else. Placement 'shared': the
 * server on CPUs 0,1 and the generator on the same two, competing with it; reported apart.
 * `extra` setups run only when named with --setups.
 */
export const WORKERS_SETUPS = [
  ['uring', 1, 'one-core'],
  ['uring', 2, 'one-core'],
  ['ws', 1, 'one-core'],
  ['ws', 2, 'one-core'],
  ['uring', 1, 'shared'],
  ['uring', 2, 'shared'],
  ['ws', 1, 'shared', true],
  ['ws', 2, 'shared', true],
].map(([transport, workers, pin, extra = false]) => ({
  name: `${transport}-w${workers}-${pin}`,
  kind: 'ringcast',
  transport,
  workers,
  pin,
  extra,
  args: [],
  cpus: pin === 'one-core' ? [SERVER_CPU] : [SERVER_CPU, LOADGEN_CPU],
  loadgenCpus: pin === 'one-core' ? [LOADGEN_CPU] : [SERVER_CPU, LOADGEN_CPU],
  // info: the listen line says how many workers started (checked after each run).
  logLevel: 'info',
}));

/**
 * --sqpoll (docs/engine.md, "SQPOLL"), only when named: the SQ thread inherits the server's CPU
 * list, so on 'one-core' it shares CPU 0 with the event loop (no core to spare on this machine)
 * and on 'shared' it may run beside the generator. 10 ms idle: under load it never sleeps.
 */
export const SQPOLL_IDLE_MS = 10;
for (const pin of ['one-core', 'shared']) {
  const base = WORKERS_SETUPS.find((s) => s.name === `uring-w1-${pin}`);
  WORKERS_SETUPS.push({ ...base, name: `uring-w1-sqpoll-${pin}`, extra: true, args: ['--sqpoll', String(SQPOLL_IDLE_MS)] });
}

/** The scenarios of the --workers benchmark, as bench.mjs runs them. */
export const WORKERS_SCENARIOS = ['fixed-400k-10k', 'fanout-1k-64B', 'large-1k-16KiB'];

/** The cross-worker hop's goal: CPU per delivery, --workers 2 / --workers 1, one core. */
export const WORKERS_HOP_GOAL = 1.15;

/** Windows in seconds: full about 15 min (3 scenarios x 6 setups x 3), quick about 3 min. */
export function workersTiming(quick) {
  return quick ? { repeats: 1, warmup: 1, duration: 2 } : { repeats: 3, warmup: 2, duration: 5 };
}
