// One Ticket per admitted request, released exactly once on every path (hub/admission.ts).
import { describe, expect, it } from 'vitest';
import { Ticket, underTicket, type InFlight } from '../../server/hub/admission.js';

const fresh = (): InFlight => ({ inFlight: 0, inFlightBytes: 0 });
const empty = { inFlight: 0, inFlightBytes: 0 };

describe('admission tickets', () => {
  it('counts a request on the connection and the node, and a second release does nothing', () => {
    const conn = fresh();
    const node = fresh();
    const t = new Ticket(conn, node, 100);
    expect(conn).toEqual({ inFlight: 1, inFlightBytes: 100 });
    expect(node).toEqual({ inFlight: 1, inFlightBytes: 100 });
    t.release();
    t.release();
    expect(conn).toEqual(empty);
    expect(node).toEqual(empty);
  });

  it('a synchronous answer is released before it is written', () => {
    const conn = fresh();
    let seen: InFlight | undefined;
    underTicket(
      new Ticket(conn, fresh(), 7),
      () => 'refused',
      () => (seen = { ...conn }),
      () => undefined,
    );
    expect(seen).toEqual(empty);
  });

  it('a synchronous throw releases and rethrows', () => {
    const conn = fresh();
    const boom = () => {
      throw new Error('boom');
    };
    expect(() =>
      underTicket(
        new Ticket(conn, fresh(), 7),
        boom,
        () => undefined,
        () => undefined,
      ),
    ).toThrow('boom');
    expect(conn).toEqual(empty);
  });

  it('a promise releases when it settles, either way, and only then answers', async () => {
    const conn = fresh();
    const node = fresh();
    const answered: string[] = [];
    let resolve!: (v: string) => void;
    let reject!: (e: Error) => void;
    underTicket(
      new Ticket(conn, node, 3),
      () => new Promise<string>((r) => (resolve = r)),
      (v) => answered.push(v),
      () => undefined,
    );
    underTicket(
      new Ticket(conn, node, 4),
      () => new Promise<string>((_, j) => (reject = j)),
      () => undefined,
      (e) => answered.push(String(e)),
    );
    expect(node).toEqual({ inFlight: 2, inFlightBytes: 7 });
    resolve('ok');
    reject(new Error('lost'));
    await new Promise((r) => setImmediate(r));
    expect(answered).toEqual(['ok', 'Error: lost']);
    expect(conn).toEqual(empty);
    expect(node).toEqual(empty);
  });
});
