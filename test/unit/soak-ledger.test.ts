// The soak's ledger (loadtest/soak/ledger.mjs): when an undelivered message is a violation.
import { describe, expect, it } from 'vitest';
import { END_GRACE_S, Ledger } from '../../loadtest/soak/ledger.mjs';

interface Violation {
  kind: string;
  detail: Record<string, unknown>;
}

function world() {
  let t = 0;
  const violations: Violation[] = [];
  const faults: { kind: string; t0: number; t1?: number }[] = [];
  const ledger = new Ledger(
    (kind: string, _at: number, detail: object) => void violations.push({ kind, detail: detail as Record<string, unknown> }),
    () => t,
    () => faults,
  );
  const client = { name: 'c1', node: 'A', viaProxy: false, tDown: undefined as number | undefined, sdk: { state: 'connected' } };
  const at = (s: number) => void (t = s);
  /** A subscription live at 1 s and a publish to its room acknowledged at 2 s. */
  const liveThenAcked = () => {
    const sub = ledger.subscribing(client, 'room');
    at(1);
    ledger.live(sub, 0, '');
    at(2);
    const pub = ledger.publishing('room', 'http', 'B');
    ledger.acked(pub, 1, false);
    return sub;
  };
  return { ledger, client, violations, at, faults, liveThenAcked };
}

describe('soak ledger: lost messages', () => {
  it('blames a live subscription that never got an acked message', () => {
    const { ledger, client, violations, at, liveThenAcked } = world();
    const sub = liveThenAcked();
    at(2 + END_GRACE_S + 1);
    ledger.ended(sub);
    expect(violations.map((v) => v.kind)).toEqual(['lost']);
  });

  it('gives a renewed subscription the grace from its renewal: the replay may still be on its way', () => {
    const { ledger, client, violations, at } = world();
    const sub = ledger.subscribing(client, 'room');
    at(1);
    ledger.live(sub, 0, '');
    at(2);
    client.tDown = 2; // the node drains
    const pub = ledger.publishing('room', 'http', 'B');
    ledger.acked(pub, 1, false);
    at(6.9);
    ledger.recovery(sub, { recovered: true }); // back on the restarted node; seq 1 is being replayed
    at(7.1); // the app leaves 5.1 s after the ack, 0.2 s after the renewal
    ledger.ended(sub);
    expect(violations).toEqual([]);
  });

  it('still blames a renewed subscription that had the grace and did not get it', () => {
    const { ledger, client, violations, at } = world();
    const sub = ledger.subscribing(client, 'room');
    at(1);
    ledger.live(sub, 0, '');
    at(2);
    client.tDown = 2;
    const pub = ledger.publishing('room', 'http', 'B');
    ledger.acked(pub, 1, false);
    at(3);
    ledger.recovery(sub, { recovered: true });
    at(3 + END_GRACE_S + 1);
    ledger.ended(sub);
    expect(violations.map((v) => v.kind)).toEqual(['lost']);
    expect(violations[0]!.detail).toMatchObject({ linkDownAt: 2, recoveredAt: 3, recovered: true });
  });

  it('owes a message acked just before a Redis fault only END_GRACE_S after the fault ends', () => {
    const { ledger, client, violations, at, faults, liveThenAcked } = world();
    const sub = liveThenAcked();
    at(3);
    faults.push({ kind: 'redis-pause', t0: 3 }); // the node's subscriber link hears nothing now
    at(9);
    faults[0]!.t1 = 9;
    at(9 + END_GRACE_S - 0.5); // the app leaves while the node may still be reading the room back
    ledger.ended(sub);
    expect(violations).toEqual([]);
  });

  it('still blames a message that was not there END_GRACE_S after the Redis fault ended', () => {
    const { ledger, client, violations, at, faults, liveThenAcked } = world();
    const sub = liveThenAcked();
    faults.push({ kind: 'redis-kill-aof', t0: 3, t1: 9 });
    at(9 + END_GRACE_S + 0.5);
    ledger.ended(sub);
    expect(violations.map((v) => v.kind)).toEqual(['lost']);
  });

  it('does not wait for faults that do not hold up Redis, nor for messages acked long before one', () => {
    const { ledger, client, violations, at, faults, liveThenAcked } = world();
    const sub = liveThenAcked();
    faults.push({ kind: 'fd-exhaust', t0: 3 }, { kind: 'redis-pause', t0: 2 + END_GRACE_S + 1 });
    at(2 + END_GRACE_S + 2);
    ledger.ended(sub);
    expect(violations.map((v) => v.kind)).toEqual(['lost']);
  });

  /** A subscription acked at 2 s, and at 5 s another room's message that took 4 s to arrive (a busy machine). */
  function slowDelivery() {
    const w = world();
    const sub = w.liveThenAcked();
    const other = w.ledger.subscribing({ ...w.client, name: 'c2' }, 'other');
    w.ledger.live(other, 0, '');
    w.at(5);
    w.ledger.delivered(other, { p: 0, w: Date.now() - 4000 }, { seq: 1 }, '');
    return { ...w, sub };
  }

  it('gives an ended subscription the grace of twice the slowest recent delivery when deliveries are slow', () => {
    const { ledger, violations, at, sub } = slowDelivery();
    at(2 + END_GRACE_S + 1); // past the fixed grace, within 2 x 4 s of the ack
    ledger.ended(sub);
    expect(violations).toEqual([]);
  });

  it('still blames an ended subscription past twice the slowest recent delivery', () => {
    const { ledger, violations, at, sub } = slowDelivery();
    at(2 + 8 + 0.5);
    ledger.ended(sub);
    expect(violations.map((v) => v.kind)).toEqual(['lost']);
  });
});
