// What the client does when the server answers a request with an `err` frame, by its code: the
// one table the client runs from and docs/client.md shows (test/client/docs.test.ts keeps the two
// equal, test/client/units.test.ts checks that every code of server/protocol/errors.ts is here).
// A refusal that can pass by itself (the broker is down, a limit that frees up) is retried with
// the reconnect backoff; one that retrying cannot fix is reported to the app and never re-sent.

/** retry: send the request again after a backoff; fail: report it to the app, never re-send. */
export type ErrAction = 'retry' | 'fail';

export interface ErrRule {
  readonly code: string;
  readonly action: ErrAction;
  readonly meaning: string;
}

export const errRules: readonly ErrRule[] = [
  { code: 'unavailable', action: 'retry', meaning: 'the broker (Redis) is unreachable or the node is draining: it passes' },
  {
    code: 'rate_limited',
    action: 'retry',
    meaning: 'over --rate-limit, or too many requests waiting for the broker on this connection: it drains',
  },
  {
    code: 'topic_limit',
    action: 'retry',
    meaning: 'the server holds --max-topics topics, all with subscribers: one frees up when they leave',
  },
  {
    code: 'not_subscribed',
    action: 'retry',
    meaning: "a `sub` overtaken by an `unsub` of the same topic: the client's own race, sent again when still wanted",
  },
  {
    code: 'internal',
    action: 'retry',
    meaning: 'a server bug while handling it (the link is closed with 1011): sent again after the reconnect',
  },
  {
    code: 'timeout',
    action: 'retry',
    meaning: "the client's own: no answer within requestTimeout (e.g. a request dropped by the server's message rate limit)",
  },
  { code: 'forbidden', action: 'fail', meaning: "the token's `topics` claim does not allow it: a new token is the app's decision" },
  { code: 'unauthorized', action: 'fail', meaning: 'missing or invalid credentials' },
  { code: 'bad_topic', action: 'fail', meaning: 'not a valid topic name: it never will be' },
  { code: 'bad_request', action: 'fail', meaning: 'a request this server does not take (a bug, or an older server)' },
  { code: 'bad_json', action: 'fail', meaning: 'not JSON: a bug on one side' },
  { code: 'too_large', action: 'fail', meaning: 'past --max-payload (the link is closed with 1009)' },
  {
    code: 'too_many_topics',
    action: 'fail',
    meaning: 'this connection holds --max-topics-per-connection subscriptions: unsubscribe another, then subscribe again',
  },
];

/** The action for an err code; a code this client does not know fails (visible) rather than looping. */
export function errAction(code: string): ErrAction {
  return errRules.find((r) => r.code === code)?.action ?? 'fail';
}

/** The table of docs/client.md, made from errRules. */
export function errTableMarkdown(): string {
  const rows = ['| err code | client action | why |', '|---|---|---|'];
  for (const r of errRules) rows.push(`| \`${r.code}\` | ${r.action} | ${r.meaning} |`);
  rows.push('| any other | fail | a code this client does not know: reported, not re-sent |');
  return rows.join('\n');
}
