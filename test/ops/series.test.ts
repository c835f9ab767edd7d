// The ops page's arithmetic: counters read from a prom-client registry become per-second rates.
import { Counter, Gauge, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { mergeTopics } from '../../server/ops/hub-view.js';
import { History, point, totals, type MetricJson } from '../../server/ops/series.js';

function registry() {
  const registers = [new Registry()];
  const publishes = new Counter({ name: 'ringcast_publishes_total', help: 'p', labelNames: ['source'], registers });
  const errors = new Counter({ name: 'ringcast_request_errors_total', help: 'e', labelNames: ['code'], registers });
  const connections = new Gauge({ name: 'ringcast_connections', help: 'c', labelNames: ['transport'], registers });
  const read = async () => (await registers[0]!.getMetricsAsJSON()) as MetricJson[];
  return { publishes, errors, connections, read };
}

describe('ops series', () => {
  it('adds up every label set of a series and turns counters into rates per second', async () => {
    const r = registry();
    r.connections.set({ transport: 'uring' }, 3);
    r.connections.set({ transport: 'ws' }, 2);
    r.publishes.inc({ source: 'ws' }, 10);
    const a = totals(await r.read(), 1_000);
    r.publishes.inc({ source: 'ws' }, 5);
    r.publishes.inc({ source: 'http' }, 15);
    r.errors.inc({ code: 'bad_json' }, 4);
    const b = totals(await r.read(), 3_000);
    const p = point(a, b);
    expect(p.connections).toBe(5);
    expect(p.publishes).toBe(10); // 20 more over 2 s
    expect(p.errors).toEqual({ bad_json: 2 });
    expect(p.deliveries).toBe(0); // a series the registry lacks reads as nothing, not as an error
  });

  it('never shows a negative rate when a counter went down (a worker lost with its registry)', () => {
    const base = {
      connections: 0,
      deliveries: 0,
      bytesOut: 0,
      compressedSource: 0,
      compressedWire: 0,
      slow: 0,
      timeout: 0,
      policy: 0,
      lag: 0,
    };
    const p = point({ ...base, t: 0, publishes: 100, errors: { x: 9 } }, { ...base, t: 1000, publishes: 40, errors: { x: 1 } });
    expect(p.publishes).toBe(0);
    expect(p.errors).toEqual({});
  });

  it('gives no rate for the first reading', () => {
    const t = {
      t: 5,
      connections: 1,
      publishes: 7,
      deliveries: 7,
      bytesOut: 70,
      compressedSource: 35,
      compressedWire: 9,
      slow: 0,
      timeout: 0,
      policy: 0,
      errors: {},
      lag: 0.002,
    };
    expect(point(undefined, t)).toMatchObject({ connections: 1, publishes: 0, deliveries: 0, lagMs: 2 });
  });

  it('keeps five minutes of points and lets the oldest go', () => {
    const h = new History(3);
    const t = {
      t: 0,
      connections: 0,
      publishes: 0,
      deliveries: 0,
      bytesOut: 0,
      compressedSource: 0,
      compressedWire: 0,
      slow: 0,
      timeout: 0,
      policy: 0,
      errors: {},
      lag: 0,
    };
    for (let i = 1; i <= 5; i++) h.push(point(undefined, { ...t, t: i }));
    expect(h.all().map((p) => p.t)).toEqual([3, 4, 5]);
  });

  it("merges the workers' topics: subscribers added up, the highest seq, busiest first, at most the limit", () => {
    const merged = mergeTopics(
      [
        [
          { topic: 'a', subscribers: 5, seq: 10 },
          { topic: 'b', subscribers: 1, seq: 3 },
        ],
        [
          { topic: 'b', subscribers: 6, seq: 4 },
          { topic: 'c', subscribers: 2, seq: 1 },
        ],
      ],
      2,
    );
    expect(merged).toEqual([
      { topic: 'b', subscribers: 7, seq: 4 },
      { topic: 'a', subscribers: 5, seq: 10 },
    ]);
  });
});
