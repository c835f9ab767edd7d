// Every error ringcast reports, in one table: the stable code a client sees in
// {"op":"err","code":C}, what it means, and for protocol violations the WebSocket close
// code (RFC 6455 section 7.4.1) it maps to. docs/protocol.md lists the same table.

export const errorCodes = {
  bad_json: 'the text frame is not a JSON object (RFC 8259); the connection stays usable',
  bad_request: 'valid JSON but not a valid protocol v1 request: unknown op, missing or ill-typed field, binary frame',
  bad_topic: 'topic name is not 1..200 bytes of printable ASCII without spaces',
  too_large: 'the message this request would produce exceeds --max-payload',
  not_subscribed: 'unsub of a topic this connection is not subscribed to',
  too_many_topics: 'the connection already holds --max-topics-per-connection subscriptions',
  unauthorized: 'no valid credentials (HTTP 401 at upgrade or on POST /publish)',
  forbidden: 'the credentials do not allow this topic',
  rate_limited: 'the connection sent more than its rate limit allows',
  unavailable: 'the server is draining and takes no new work',
} as const;

export type ErrorCode = keyof typeof errorCodes;

/** Close codes ringcast sends, with the reason it writes in the close frame. */
export const closeCodes = {
  normal: { code: 1000, reason: 'normal closure' },
  goingAway: { code: 1001, reason: 'server shutting down' },
  protocolError: { code: 1002, reason: 'protocol error' },
  invalidPayload: { code: 1007, reason: 'invalid UTF-8' },
  policyViolation: { code: 1008, reason: 'policy violation' },
  messageTooBig: { code: 1009, reason: 'message too big' },
  internalError: { code: 1011, reason: 'internal error' },
  slowConsumer: { code: 1013, reason: 'slow consumer: outbound limit exceeded' },
} as const;
