// Whether to accept a WebSocket upgrade: target, path, draining, connection limit, origin,
// ?topics=, token. The RFC 6455 handshake fields were checked by the transport before this runs.
import { allowed } from '../auth/permissions.js';
import { Authenticator } from '../auth/tokens.js';
import type { Config } from '../config.js';
import type { Metrics } from '../metrics.js';
import { httpError, type ErrorCode } from '../protocol/errors.js';
import { isValidTopic } from '../protocol/topic.js';
import type { UpgradeDecision, UpgradeRequest } from '../transport/types.js';
import { parseTarget } from './target.js';

export interface UpgradeContext {
  config: Config;
  auth: Authenticator | null;
  /** exact allowed origins (lower-cased), or null for any */
  origins: Set<string> | null;
  metrics: Metrics;
  draining: () => boolean;
  /** the --max-connections slots: this server's, or shared by every worker */
  admission: Admission;
}

/**
 * The --max-connections slots. An upgrade takes one before its token check (so concurrent checks
 * cannot together pass the limit) and releases it once the connection is open (the slot is then
 * the connection's until it closes) or gone.
 */
export interface Admission {
  /** Takes a slot; false when `max` (> 0) slots are taken. */
  reserve(max: number): boolean;
  /** The upgrade is decided: `opened` keeps the slot as an open connection, else it is given back. */
  release(opened: boolean): void;
  /** An open WebSocket connection is gone. */
  closed(): void;
}

/** One server's slots: its open connections (the transport counts them) plus upgrades in flight. */
export class LocalAdmission implements Admission {
  private reserved = 0;

  constructor(private readonly connections: () => number) {}

  reserve(max: number): boolean {
    if (max > 0 && this.connections() + this.reserved >= max) return false;
    this.reserved++;
    return true;
  }

  release(): void {
    this.reserved--;
  }

  closed(): void {}
}

/**
 * Slots shared by the workers of one server: each worker counts its open connections and upgrades
 * in flight in its own cell of shared memory, and an upgrade takes a slot by adding to its cell
 * first and then reading them all. Two workers taking the last slot at once both see both
 * additions, or one sees the other's: the limit is never passed (at worst both refuse).
 */
export class SharedAdmission implements Admission {
  constructor(
    private readonly cells: Int32Array,
    /** the cells of every worker, this one's among them */
    private readonly first: number,
    private readonly count: number,
    private readonly own: number,
  ) {}

  reserve(max: number): boolean {
    Atomics.add(this.cells, this.own, 1);
    if (max === 0) return true;
    let taken = 0;
    for (let i = this.first; i < this.first + this.count; i++) taken += Atomics.load(this.cells, i);
    if (taken <= max) return true;
    Atomics.sub(this.cells, this.own, 1);
    return false;
  }

  release(opened: boolean): void {
    if (!opened) Atomics.sub(this.cells, this.own, 1);
  }

  closed(): void {
    Atomics.sub(this.cells, this.own, 1);
  }
}

/** The --allowed-origins list as a set of lower-cased origins, or null when unset. */
export function parseOrigins(list: string | null): Set<string> | null {
  if (list === null) return null;
  return new Set(
    list
      .split(',')
      .map((o) => o.trim().toLowerCase())
      .filter((o) => o !== ''),
  );
}

function refuse(code: ErrorCode, msg: string, reason: string = code): UpgradeDecision {
  return { ok: false, reason, ...httpError(code, msg) };
}

/**
 * Decides an upgrade. An accepted decision holds one of the --max-connections slots from before
 * the token check until the transport calls its `release()` (after opening the connection or
 * finding it gone), so concurrent token checks cannot together pass the limit.
 */
export async function decideUpgrade(ctx: UpgradeContext, req: UpgradeRequest): Promise<UpgradeDecision> {
  const url = parseTarget(req.url);
  if (url === null) return refuse('bad_target', 'request-target is not a valid path', 'bad_target');
  if (url.pathname !== ctx.config.path) return refuse('not_found', `no WebSocket endpoint at ${url.pathname.slice(0, 100)}`);
  if (ctx.draining()) return refuse('unavailable', 'server is draining', 'draining');
  const max = ctx.config.maxConnections;
  if (!ctx.admission.reserve(max)) return refuse('unavailable', `connection limit of ${max} reached`, 'max_connections');
  let released = false;
  const release = (opened: boolean) => {
    if (!released) ctx.admission.release(opened);
    released = true;
  };
  let handedOver = false;
  try {
    // Browsers always send Origin; a client that sends none is not a browser and is not
    // protected by an origin check anyway (RFC 6455 section 10.2).
    const origin = req.headers.origin;
    if (ctx.origins !== null && origin !== undefined && !ctx.origins.has(origin.trim().toLowerCase())) {
      return refuse('forbidden', 'origin not allowed', 'origin');
    }
    const topics = new Set<string>();
    for (const param of url.searchParams.getAll('topics')) {
      for (const topic of param.split(',')) {
        if (topic === '') continue;
        if (!isValidTopic(topic)) return refuse('bad_topic', `bad topic in ?topics=: ${JSON.stringify(topic.slice(0, 50))}`);
        topics.add(topic);
        if (topics.size > ctx.config.maxTopicsPerConnection) {
          return refuse('too_many_topics', `?topics= names more than ${ctx.config.maxTopicsPerConnection} topics`);
        }
      }
    }
    if (ctx.auth === null) {
      handedOver = true;
      return { ok: true, info: { topics: [...topics], user: '', perms: null, expiresAt: undefined }, release };
    }
    const result = await ctx.auth.verify(Authenticator.tokenOf(url.searchParams, req.headers));
    // the drain may have started while the token was checked: its closeAll would miss this one
    if (ctx.draining()) return refuse('unavailable', 'server is draining', 'draining');
    if (!result.ok) {
      ctx.metrics.authFailures.inc({ reason: result.reason });
      return refuse('unauthorized', 'a valid token is required');
    }
    const { user, perms, expiresAt } = result.identity;
    for (const t of topics) {
      if (!allowed(perms, 'sub', t)) return refuse('forbidden', `token does not allow subscribing to ${JSON.stringify(t.slice(0, 50))}`);
    }
    handedOver = true;
    return { ok: true, info: { topics: [...topics], user, perms, expiresAt }, release };
  } finally {
    if (!handedOver) release(false);
  }
}
