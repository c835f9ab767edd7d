// The server's logger: pino JSON lines on stdout.
import { writeSync } from 'node:fs';
import { pino, type DestinationStream, type Logger } from 'pino';

/** Tries for a line whose pipe is full (EAGAIN) or that went out in part, before it is dropped. */
const WRITE_ATTEMPTS = 64;

/**
 * stdout as a synchronous sink that can fail without stopping the server: a line that cannot be
 * written is lost, and after EPIPE (the reader is gone) nothing more is tried. pino's own
 * destination retries a failed write forever in its exit flush, so a SIGTERM with stdout on a
 * closed pipe never finished draining; this sink buffers nothing, so there is nothing to flush.
 */
export class StdoutSink implements DestinationStream {
  private broken = false;

  constructor(private readonly fd = 1) {}

  write(line: string): void {
    if (this.broken) return;
    let rest = Buffer.from(line);
    for (let attempt = 0; attempt < WRITE_ATTEMPTS && rest.length > 0; attempt++) {
      try {
        rest = rest.subarray(writeSync(this.fd, rest));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') {
          this.broken = true;
          return;
        }
      }
    }
  }
}

export function createLogger(level: string): Logger {
  return pino({ level, base: { name: 'ringcast' }, timestamp: pino.stdTimeFunctions.isoTime }, new StdoutSink());
}
