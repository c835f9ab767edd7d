// Errors the client rejects with or emits: a stable code, like the server's error codes.

export type ClientErrorCode =
  /** the server answered an err frame; `serverCode` is its code (forbidden, bad_topic ...) */
  | 'server'
  /** the request waited longer than its timeout for a connection or an answer */
  | 'timeout'
  /** a publish was sent but the link dropped before its ack: it may or may not have been published */
  | 'outcome_unknown'
  /** close() was called */
  | 'closed'
  /** the token expired (4001) and there is no getToken() to renew it */
  | 'token_expired'
  /** the server refused the connection for good (a close code or HTTP status that retrying cannot fix) */
  | 'refused'
  /** unsubscribe() before the subscription's first ack (its `subscribed` rejects with it) */
  | 'unsubscribed'
  /** subscribe() on a topic this client is subscribed to already */
  | 'already_subscribed';

export class RingcastError extends Error {
  constructor(
    readonly code: ClientErrorCode,
    message: string,
    /** the server's error code for `code === 'server'`, the close code or HTTP status for `refused` */
    readonly serverCode?: string | number,
  ) {
    super(message);
    this.name = 'RingcastError';
  }
}
