// Replies the hub and its request handlers write alike: an err frame (counted), an ack with
// UTF-8 text, and what a client may be told of a broker error.
import { BrokerRefusedError, BrokerTimeoutError, BrokerTopicLimitError } from '../broker/types.js';
import type { Metrics } from '../metrics.js';
import { encodeAckParts, encodeErr } from '../protocol/encode.js';
import type { ErrorCode } from '../protocol/errors.js';
import type { Id } from '../protocol/request.js';

/**
 * What a client is told of a broker error. Only texts the server wrote itself (a topic limit, a
 * timeout) and Redis's own error replies (OOM: they name no address) pass; anything else (a socket error naming Redis's address, a Redis reply) stays in
 * the log, the metrics and /healthz.
 */
export function brokerTrouble(err: unknown): string {
  if (err instanceof BrokerTopicLimitError || err instanceof BrokerTimeoutError || err instanceof BrokerRefusedError) return err.message;
  return 'the broker is unavailable; retry later';
}

export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export function encodeErrCounted(metrics: Metrics, id: Id, code: ErrorCode, msg: string): Buffer {
  metrics.protocolErrors.inc({ code });
  return encodeErr(id, code, msg);
}

/** An ack whose fields may hold non-ASCII text (user ids), written as UTF-8. */
export function encodeAckUtf8(id: string, body: string): Buffer {
  return encodeAckParts(id, [Buffer.from(body, 'utf8')]);
}
