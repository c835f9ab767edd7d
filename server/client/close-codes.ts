// The one table of WebSocket close codes: what the server writes in a close frame (code and
// reason), and what the client does when its WebSocket closes with it. The server (through
// protocol/errors.ts), the client SDK and docs/client.md read it; native/src/ws/rfc6455.h's
// constants are checked against it (test/unit/close-codes.test.ts). It lives with the SDK because
// browsers load the SDK's folder alone. Browsers see 1006 for every
// refused upgrade (401, 403, 503 ...), so 1006 must retry; Node's `ws` reports the HTTP status,
// which the client uses to stop on a refusal that retrying cannot fix.

/** retry: reconnect after a backoff; refresh: fetch a new token and reconnect at once; stop: give up and emit 'error'. */
export type CloseAction = 'retry' | 'refresh' | 'stop';

export interface CloseRule {
  readonly code: number;
  /** the reason the server writes in its close frame; undefined for codes it never sends */
  readonly reason: string | undefined;
  readonly action: CloseAction;
  readonly meaning: string;
}

export const closeCodes = {
  normal: {
    code: 1000,
    reason: 'normal closure',
    action: 'retry',
    meaning: 'normal closure not asked for by close(): reconnect after a backoff',
  },
  goingAway: {
    code: 1001,
    reason: 'server shutting down',
    action: 'retry',
    meaning: 'server shutting down (drain): reconnect after a backoff, to another node or the restarted one',
  },
  protocolError: {
    code: 1002,
    reason: 'protocol error',
    action: 'stop',
    meaning: 'protocol error: a bug on one side; retrying would repeat it',
  },
  unsupportedData: { code: 1003, reason: undefined, action: 'stop', meaning: 'unsupported data: a bug on one side' },
  noStatus: { code: 1005, reason: undefined, action: 'retry', meaning: 'closed without a code: reconnect after a backoff' },
  abnormal: {
    code: 1006,
    reason: undefined,
    action: 'retry',
    meaning:
      'link lost, or upgrade refused (browsers cannot tell 401/403/503 apart): reconnect after a backoff, with a fresh token from getToken()',
  },
  invalidPayload: { code: 1007, reason: 'invalid UTF-8', action: 'stop', meaning: 'invalid UTF-8: a bug on one side' },
  policyViolation: {
    code: 1008,
    reason: 'policy violation',
    action: 'retry',
    meaning: 'policy violation (sustained rate-limit abuse): reconnect after a backoff; the app should slow down',
  },
  messageTooBig: {
    code: 1009,
    reason: 'message too big',
    action: 'retry',
    meaning: 'a message past --max-payload: reconnect; the publish that caused it rejects (a keyed one after 3 attempts)',
  },
  internalError: {
    code: 1011,
    reason: 'internal error',
    action: 'retry',
    meaning: 'server internal error: reconnect after a backoff',
  },
  serviceRestart: { code: 1012, reason: undefined, action: 'retry', meaning: 'service restart: reconnect after a backoff' },
  slowConsumer: {
    code: 1013,
    reason: 'slow consumer: outbound limit exceeded',
    action: 'retry',
    meaning: 'slow consumer (--max-outbound exceeded): reconnect after a backoff and recover from the last seq',
  },
  heartbeatTimeout: {
    code: 4000,
    reason: undefined,
    action: 'retry',
    meaning: "the client's own heartbeat timeout (no frame for two ping intervals): reconnect after a backoff",
  },
  tokenExpired: {
    code: 4001,
    reason: 'token expired',
    action: 'refresh',
    meaning: 'token expired: call getToken() and reconnect at once; without getToken() stop with token_expired',
  },
} as const satisfies Record<string, CloseRule>;

export type CloseName = keyof typeof closeCodes;

/** Every close code of the table, in code order. */
export const closeRules: readonly CloseRule[] = Object.values(closeCodes);

/** The action for a close code; 4000-4999 codes not listed stop (an application said no), others retry. */
export function closeAction(code: number): CloseAction {
  const rule = closeRules.find((r) => r.code === code);
  if (rule !== undefined) return rule.action;
  return code >= 4000 && code <= 4999 ? 'stop' : 'retry';
}

/** HTTP statuses of a refused upgrade (seen in Node only) after which retrying cannot help. */
export function refusalAction(status: number, canRefresh: boolean): CloseAction {
  if (status === 401) return canRefresh ? 'retry' : 'stop';
  if (status === 400 || status === 403 || status === 404 || status === 426) return 'stop';
  return 'retry';
}

/** The table of docs/client.md, made from closeRules. */
export function closeTableMarkdown(): string {
  const rows = ['| close code | client action | meaning |', '|---|---|---|'];
  for (const r of closeRules) rows.push(`| ${r.code} | ${r.action} | ${r.meaning} |`);
  rows.push('| other 4000-4999 | stop | an application-defined refusal |', '| any other | retry | reconnect after a backoff |');
  return rows.join('\n');
}
