// Every default of ringcast, in one place, with its unit. The CLI, the env vars
// (RINGCAST_<NAME>), the JSON config file and `ringcast --help` all read this table.

export interface OptionSpec {
  /** default value; `null` means "unset" */
  readonly default: string | number | boolean | null;
  /** unit or value set shown by --help */
  readonly unit: string;
  readonly help: string;
  /** an engine tunable: --help lists it last, apart from the everyday flags */
  readonly advanced?: boolean;
}

export const defaults = {
  host: { default: '0.0.0.0', unit: 'address', help: 'interface to listen on' },
  port: { default: 8080, unit: 'port', help: 'TCP port for WebSocket and HTTP (0 = any free port)' },
  workers: {
    default: 1,
    unit: 'N|auto',
    help: 'worker threads, each with its own io_uring ring and connections, behind one acceptor on one port (auto: the CPUs this process may use, capped by a cgroup CPU limit); 1 runs everything on the main thread',
  },
  path: { default: '/ws', unit: 'path', help: 'URL path of the WebSocket endpoint' },
  transport: {
    default: 'auto',
    unit: 'auto|uring|ws',
    help: 'socket I/O: io_uring engine, ws fallback, or uring when the probe passes',
  },
  maxPayload: {
    default: 1024 * 1024,
    unit: 'bytes',
    help: 'largest inbound message or HTTP body; a bigger WebSocket message closes with 1009',
  },
  permessageDeflate: {
    default: 'on',
    unit: 'on|off',
    help: 'permessage-deflate (RFC 7692) for clients that offer it: each publish is compressed once and the same frame goes to every subscriber that negotiated it',
  },
  deflateThreshold: {
    default: 1024,
    unit: 'bytes',
    help: 'messages with a smaller payload are sent plain (compressing costs about 10 us per publish whatever the size)',
  },
  deflateLevel: { default: 3, unit: '1-9', help: 'zlib level of the once-per-publish compression' },
  maxOutbound: {
    default: 8 * 1024 * 1024,
    unit: 'bytes',
    help: 'unsent bytes allowed per connection; past it the connection is closed with 1013',
  },
  history: { default: 100, unit: 'messages', help: 'messages retained per topic for history and recovery' },
  historyTtl: {
    default: 300,
    unit: 'seconds',
    help: 'how long a topic without subscribers keeps its history (its seq and epoch) after its last publish',
  },
  maxTopics: {
    default: 100_000,
    unit: 'topics',
    help: 'topics held at once (with or without subscribers); past it the least recently active topic without subscribers is dropped, and a new topic is refused with topic_limit when every topic has subscribers',
  },
  maxHistoryBytes: {
    default: 256 * 1024 * 1024,
    unit: 'bytes',
    help: 'retained message bytes over all topics; past it topics without subscribers are dropped first (least recently active first), then the oldest retained messages',
  },
  maxConnections: { default: 0, unit: 'connections', help: 'WebSocket connections at once; more get 503 (0 = no limit)' },
  maxTopicsPerConnection: { default: 1000, unit: 'topics', help: 'subscriptions one connection may hold' },
  handshakeTimeout: {
    default: 10000,
    unit: 'ms',
    help: 'time a new TCP connection has to complete its HTTP request or upgrade',
  },
  pingInterval: {
    default: 25000,
    unit: 'ms',
    help: 'server ping period; a connection silent for a whole period after a ping is dropped',
  },
  closeTimeout: {
    default: 5000,
    unit: 'ms',
    help: 'time a connection the server closes (1013, 1001, 4001, 1011, a protocol error) has to flush its queue and answer the close before it is aborted',
  },
  drainDelay: {
    default: 0,
    unit: 'ms',
    help: 'on SIGTERM, time /healthz answers 503 before connections are closed (lets load balancers notice)',
  },
  drainTimeout: {
    default: 10000,
    unit: 'ms',
    help: 'on SIGTERM, longest wait for clients to acknowledge 1001 and queued frames to flush',
  },
  maxHeadBytes: { default: 8192, unit: 'bytes', help: 'largest HTTP request head (request line and headers); more gets 431' },
  maxHeaders: { default: 64, unit: 'headers', help: 'most header fields in one HTTP request; more gets 431' },
  jwtSecret: {
    default: null,
    unit: 'secret',
    help: 'turns auth on: HS256 secret that signs client tokens (?token= or Authorization: Bearer)',
  },
  jwtPublicKey: {
    default: null,
    unit: 'file',
    help: 'turns auth on: PEM public key (RSA for RS256, P-256 for ES256) that verifies client tokens',
  },
  apiKey: { default: null, unit: 'secret', help: 'when set, POST /publish needs Authorization: Bearer <key> or X-Api-Key' },
  allowedOrigins: {
    default: null,
    unit: 'origins',
    help: 'comma-separated exact origins allowed to upgrade; requests without Origin are allowed',
  },
  rateLimit: { default: 0, unit: 'messages/s', help: 'per-connection inbound message rate (token bucket, burst of one second); 0 = off' },
  rateLimitBytes: { default: 0, unit: 'bytes/s', help: 'per-connection inbound byte rate (token bucket, burst of one second); 0 = off' },
  idempotencyTtl: {
    default: 300,
    unit: 'seconds',
    help: 'how long a publish idempotency key (pub "key", POST /publish Idempotency-Key) is remembered per topic; a repeat within it returns the first seq and delivers nothing (0 = keys ignored)',
  },
  maxIdempotencyKeys: {
    default: 100_000,
    unit: 'keys',
    help: 'idempotency keys remembered at once over all topics; past it the oldest is forgotten early',
  },
  presenceEvents: {
    default: 100,
    unit: 'events/s per topic',
    help: 'join/leave events a topic sends its presence watchers per second; past it they are dropped and one presence_sync frame follows',
  },
  broker: {
    default: 'memory',
    unit: 'memory|redis://[:password@]host:port[/db]|rediss://...',
    help: 'where seq, history, presence and idempotency keys live: this process (memory), or Redis shared by every node (docs/scaling.md)',
  },
  brokerPrefix: {
    default: 'ringcast',
    unit: 'name',
    help: 'namespace of every Redis key and channel of this cluster (letters, digits, _ . : -)',
  },
  brokerTimeout: {
    default: 3000,
    unit: 'ms',
    help: 'longest wait for a Redis command; past it (or while Redis is unreachable) requests answer err unavailable and POST /publish 503',
  },
  brokerProbe: {
    default: 5000,
    unit: 'ms',
    help: "period of the Redis link check: a probe through the subscription connection (a link that delivers nothing is reconnected) and a check of each topic's last seq (0 = off)",
  },
  presenceTtl: {
    default: 60,
    unit: 'seconds',
    help: "with the redis broker: how long a node's presence entries live unless refreshed (a crashed node's clients disappear within it)",
  },
  demo: {
    default: false,
    unit: 'true|false',
    help: 'serve the chat demo at /demo?room=NAME and the client module it imports at /demo/client/',
  },
  ops: {
    default: false,
    unit: 'true|false',
    help: 'serve the live ops page at /ops (and its event stream at /ops/events) on --ops-port, guarded by --api-key or an admin JWT; needs one of them',
  },
  opsPort: {
    default: 8081,
    unit: 'port',
    help: 'TCP port of the ops page, apart from the WebSocket port (0 = any free port); its listen line names it',
  },
  opsHost: { default: null, unit: 'address', help: 'interface of the ops page (default: --host); 127.0.0.1 keeps it off the network' },
  opsMaxViewers: {
    default: 5,
    unit: 'streams',
    help: 'ops pages open at once (one event stream each, one JSON line a second); more are answered 503',
  },
  mallocTrim: {
    default: 16 * 1024 * 1024,
    unit: 'bytes',
    help: 'free memory the C allocator may gather before it is given back to the kernel (malloc_trim, checked every 5 s; glibc only); 0 = never',
  },
  logLevel: { default: 'info', unit: 'fatal|error|warn|info|debug|trace|silent', help: 'log level' },
  config: { default: null, unit: 'file', help: 'JSON file with any of these keys (camelCase)' },
  // Advanced: the io_uring engine's tunables (uring transport only). docs/engine.md has the
  // measurements behind each default.
  ringSlots: {
    default: 0,
    unit: 'connections',
    help: 'TCP connections (HTTP or WebSocket, closing ones included) the engine holds at once; more are closed on accept (0 = as many as RLIMIT_NOFILE allows)',
    advanced: true,
  },
  sqEntries: {
    default: 4096,
    unit: 'entries',
    help: 'submission queue size, a power of two (halved while RLIMIT_MEMLOCK is short)',
    advanced: true,
  },
  cqEntries: {
    default: 16384,
    unit: 'entries',
    help: 'completion queue size, a power of two (halved with the submission queue)',
    advanced: true,
  },
  recvBuffers: {
    default: 256,
    unit: 'buffers',
    help: 'receive buffers shared by every connection, a power of two: each costs a page of RSS once used; too few and a connection storm empties the ring (re-armed, counted in ringcast_ring_recv_enobufs_total)',
    advanced: true,
  },
  recvBufferSize: { default: 16384, unit: 'bytes', help: 'size of each receive buffer', advanced: true },
  zeroCopyThreshold: {
    default: 0,
    unit: 'bytes',
    help: 'gathered sends of at least this many bytes go as SENDMSG_ZC (0 = never; it does not pay on loopback)',
    advanced: true,
  },
  acceptBackoff: { default: 100, unit: 'ms', help: 'pause before accepting again after EMFILE/ENFILE', advanced: true },
  listenBacklog: { default: 511, unit: 'connections', help: 'listen(2) backlog', advanced: true },
  sqpoll: {
    default: 0,
    unit: 'ms',
    help: 'SQPOLL: a kernel thread takes the ring\'s submissions (shared by every worker\'s ring) and spins this long after the last one before it sleeps; worth it only with a core to spare for that thread (docs/engine.md, "SQPOLL"); 0 = off',
    advanced: true,
  },
  drainMark: {
    default: 65536,
    unit: 'bytes',
    help: 'a connection queue that passed this many bytes reports a drain event once it is empty',
    advanced: true,
  },
} as const satisfies Record<string, OptionSpec>;

export type OptionName = keyof typeof defaults;
