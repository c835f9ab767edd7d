// What a connection has waiting for a broker that answers later (Redis, or the main thread of
// --workers). A request admitted against the connection's allowance gets one Ticket, and the
// ticket is released exactly once, whichever way the request ends: answered at once (the broker
// is down, the node's backlog is full), answered by a promise, failed, or the connection closed
// meanwhile. Counting up in one place and down in another is what let refusals during a Redis
// outage leak a connection's allowance forever.

/**
 * Requests waiting for the broker and the bytes they hold: a connection's (the Conn itself, so an
 * idle connection carries two numbers, not an object) and the node's total over every
 * connection (read by /metrics, where an idle node must show 0).
 */
export interface InFlight {
  inFlight: number;
  inFlightBytes: number;
}

export class Ticket {
  private admitted = true;

  constructor(
    private readonly owner: InFlight,
    private readonly totals: InFlight,
    readonly bytes: number,
  ) {
    owner.inFlight++;
    owner.inFlightBytes += bytes;
    totals.inFlight++;
    totals.inFlightBytes += bytes;
  }

  /** Gives the allowance back; a second call does nothing. */
  release(): void {
    if (!this.admitted) return;
    this.admitted = false;
    this.owner.inFlight--;
    this.owner.inFlightBytes -= this.bytes;
    this.totals.inFlight--;
    this.totals.inFlightBytes -= this.bytes;
  }
}

/**
 * Runs `work` under `ticket` and hands its result to `answer`: the ticket is released before the
 * answer is written, so a client that sends its next request on reading the answer is never
 * refused for the one just answered. A synchronous throw releases and rethrows (the transport
 * closes the connection with 1011); a rejected promise releases and goes to `failed`.
 */
export function underTicket<T>(
  ticket: Ticket,
  work: () => T | Promise<T>,
  answer: (result: T) => void,
  failed: (err: unknown) => void,
): void {
  let result: T | Promise<T>;
  try {
    result = work();
  } catch (err) {
    ticket.release();
    throw err;
  }
  if (!(result instanceof Promise)) {
    ticket.release();
    return answer(result);
  }
  result.then(
    (value) => {
      ticket.release();
      answer(value);
    },
    (err: unknown) => {
      ticket.release();
      failed(err);
    },
  );
}
