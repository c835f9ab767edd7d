// What the client does when its WebSocket closes, by close code: the one table the client runs
// from and docs/client.md shows (test/client checks the two agree). Browsers see 1006 for every
// refused upgrade (401, 403, 503 ...), so 1006 must retry; Node's `ws` reports the HTTP status,
// which the client uses to stop on a refusal that retrying cannot fix.

/** retry: reconnect after a backoff; refresh: fetch a new token and reconnect at once; stop: give up and emit 'error'. */
export type CloseAction = 'retry' | 'refresh' | 'stop';

export interface CloseRule {
  readonly code: number;
  readonly action: CloseAction;
  readonly meaning: string;
}

export const closeRules: readonly CloseRule[] = [
  { code: 1000, action: 'retry', meaning: 'normal closure not asked for by close(): reconnect after a backoff' },
  { code: 1001, action: 'retry', meaning: 'server shutting down (drain): reconnect after a backoff, to another node or the restarted one' },
  { code: 1002, action: 'stop', meaning: 'protocol error: a bug on one side; retrying would repeat it' },
  { code: 1003, action: 'stop', meaning: 'unsupported data: a bug on one side' },
  { code: 1005, action: 'retry', meaning: 'closed without a code: reconnect after a backoff' },
  {
    code: 1006,
    action: 'retry',
    meaning:
      'link lost, or upgrade refused (browsers cannot tell 401/403/503 apart): reconnect after a backoff, with a fresh token from getToken()',
  },
  { code: 1007, action: 'stop', meaning: 'invalid UTF-8: a bug on one side' },
  {
    code: 1008,
    action: 'retry',
    meaning: 'policy violation (sustained rate-limit abuse): reconnect after a backoff; the app should slow down',
  },
  {
    code: 1009,
    action: 'retry',
    meaning: 'a message past --max-payload: reconnect; the publish that caused it rejects (a keyed one after 3 attempts)',
  },
  { code: 1011, action: 'retry', meaning: 'server internal error: reconnect after a backoff' },
  { code: 1012, action: 'retry', meaning: 'service restart: reconnect after a backoff' },
  {
    code: 1013,
    action: 'retry',
    meaning: 'slow consumer (--max-outbound exceeded): reconnect after a backoff and recover from the last seq',
  },
  {
    code: 4000,
    action: 'retry',
    meaning: "the client's own heartbeat timeout (no frame for two ping intervals): reconnect after a backoff",
  },
  {
    code: 4001,
    action: 'refresh',
    meaning: 'token expired: call getToken() and reconnect at once; without getToken() stop with token_expired',
  },
];

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
