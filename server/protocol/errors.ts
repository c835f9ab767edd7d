// Every error ringcast reports, in one table: the stable code a client sees in
// {"op":"err","code":C} or in an HTTP body {"error":C,"msg":M}, the HTTP status it answers
// with, the WebSocket close code (RFC 6455 section 7.4.1) when it ends a connection, what
// happens to the connection, and the default message. Both transports answer from it and
// docs/protocol.md's error table is generated from it (test/unit/errors.test.ts checks).
import { closeCodes } from '../client/close-codes.js';

export interface ErrorSpec {
  /** HTTP status when it answers a request or an upgrade; null when it only happens on a WebSocket */
  readonly status: number | null;
  /** close code when it ends a WebSocket; null when the connection stays open */
  readonly close: number | null;
  /** what happens to the connection */
  readonly connection: string;
  readonly message: string;
}

export const errors = {
  bad_json: {
    status: 400,
    close: null,
    connection: 'stays open',
    message: 'the text frame or body is not a JSON object (RFC 8259), e.g. truncated, trailing text, an array',
  },
  bad_request: {
    status: 400,
    close: null,
    connection: 'stays open',
    message: 'valid JSON but not a v1 request: unknown op, missing or ill-typed field, a member twice, a binary frame',
  },
  bad_topic: {
    status: 400,
    close: null,
    connection: 'stays open',
    message: 'topic name is not 1..200 bytes of printable ASCII without spaces',
  },
  bad_target: {
    status: 400,
    close: null,
    connection: 'HTTP answered, then closed',
    message: 'the request-target is not a path (and query) that parses as a URL',
  },
  bad_handshake: {
    status: 400,
    close: null,
    connection: 'HTTP answered, then closed',
    message: 'the upgrade breaks RFC 6455 section 4.2.1 (method, version, Host, Upgrade, Connection, key)',
  },
  bad_version: {
    status: 426,
    close: null,
    connection: 'HTTP answered, then closed',
    message: 'Sec-WebSocket-Version is not 13 (the answer carries Sec-WebSocket-Version: 13)',
  },
  upgrade_required: { status: 426, close: null, connection: 'HTTP answered', message: 'a plain request on the WebSocket path' },
  not_found: { status: 404, close: null, connection: 'HTTP answered', message: 'no route (or no WebSocket endpoint) at this path' },
  method_not_allowed: { status: 405, close: null, connection: 'HTTP answered (with Allow)', message: 'the path does not take this method' },
  unsupported_media_type: {
    status: 415,
    close: null,
    connection: 'HTTP answered',
    message: 'POST /publish needs Content-Type: application/json',
  },
  too_large: {
    status: 413,
    close: closeCodes.messageTooBig.code,
    connection: 'HTTP answered, then closed; a WebSocket message past --max-payload is closed with 1009',
    message: 'body or message past --max-payload',
  },
  headers_too_large: {
    status: 431,
    close: null,
    connection: 'HTTP answered, then closed',
    message: 'request head past --max-head-bytes or more fields than --max-headers',
  },
  not_subscribed: {
    status: null,
    close: null,
    connection: 'stays open',
    message:
      "unsub of a topic the connection is not subscribed to; also the answer to a `sub` overtaken by an `unsub` of the same topic before its first subscription completed (with a shared broker or `--workers`, a node's first `sub` of a topic waits for the broker): that `sub` is answered first, then the `unsub` is acked",
  },
  too_many_topics: {
    status: 400,
    close: null,
    connection: 'stays open (400 at upgrade for ?topics=)',
    message: 'the connection holds --max-topics-per-connection subscriptions already',
  },
  topic_limit: {
    status: 503,
    close: null,
    connection: 'stays open',
    message: 'the server holds --max-topics topics and every one has subscribers: no new topic can be made',
  },
  unauthorized: {
    status: 401,
    close: null,
    connection: 'HTTP answered (with WWW-Authenticate: Bearer)',
    message: 'missing or invalid credentials (when auth is on)',
  },
  forbidden: {
    status: 403,
    close: null,
    connection: 'stays open (403 at upgrade for ?topics= or a foreign Origin)',
    message: 'the credentials do not allow this action on this topic',
  },
  rate_limited: {
    status: null,
    close: closeCodes.policyViolation.code,
    connection: 'stays open; closed with 1008 when sustained',
    message:
      'over --rate-limit or --rate-limit-bytes; the message was dropped (the err carries its `id` when it had one, so the client can send it again)',
  },
  unavailable: {
    status: 503,
    close: closeCodes.goingAway.code,
    connection: 'HTTP answered; WebSockets are closed with 1001 by a drain',
    message:
      'the server is draining or at --max-connections, or the broker (Redis) is unreachable: retry later (POST /publish sends Retry-After)',
  },
  slow_consumer: {
    status: null,
    close: closeCodes.slowConsumer.code,
    connection: 'closed with 1013 after what is queued',
    message: 'more than --max-outbound bytes queued to the connection',
  },
  token_expired: {
    status: null,
    close: closeCodes.tokenExpired.code,
    connection: 'closed with 4001',
    message: "the connection's token expired (4000-4999 are private use, RFC 6455 7.4.2)",
  },
  internal: {
    status: 500,
    close: closeCodes.internalError.code,
    connection: 'HTTP answered 500; a WebSocket is closed with 1011; logged, counted, the server goes on',
    message: 'a bug in ringcast while handling this request',
  },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof errors;

/** Close codes, with the reason the server writes in the close frame: the one table (the SDK's). */
export { closeCodes };

/** An HTTP error answer, the same bytes on every transport: {"error":C,"msg":M} as JSON. */
export interface HttpError {
  status: number;
  headers: Record<string, string>;
  body: string;
}

export function httpError(code: ErrorCode, msg: string = errors[code].message, headers: Record<string, string> = {}): HttpError {
  const status = errors[code].status ?? 500;
  const extra = code === 'unauthorized' ? { 'WWW-Authenticate': 'Bearer', ...headers } : headers;
  return { status, headers: { 'Content-Type': 'application/json', ...extra }, body: JSON.stringify({ error: code, msg }) };
}

/** The error table of docs/protocol.md, made from `errors`. */
export function errorTableMarkdown(): string {
  const rows = ['| code | HTTP | close | connection | meaning |', '|---|---|---|---|---|'];
  for (const [code, e] of Object.entries(errors) as [ErrorCode, ErrorSpec][]) {
    rows.push(`| \`${code}\` | ${e.status ?? '—'} | ${e.close ?? '—'} | ${e.connection} | ${e.message} |`);
  }
  return rows.join('\n');
}
