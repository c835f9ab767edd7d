// Reconnect delays: exponential backoff with full jitter (a uniform delay between 0 and
// min(max, min * 2^attempt)), so clients cut off together do not come back together.

export function backoffDelay(attempt: number, minMs: number, maxMs: number, random: () => number = Math.random): number {
  const cap = Math.min(maxMs, minMs * 2 ** Math.min(attempt, 30));
  return Math.floor(random() * cap);
}
