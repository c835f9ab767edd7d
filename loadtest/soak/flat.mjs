// "Memory stays flat after warm-up", as a rule a 90-second run can evaluate. A series is judged on
// the stretch after its last reset (a restart of that process, a worker replaced, a Redis restart;
// plus a warm-up of its own), split into a middle and a late window: it fails when the late
// window's floor (25th percentile) sits above the middle window's by more than the threshold AND
// it is still rising there (its late slope is at least a third of the slope between the windows).
// A level that rose to a plateau passes; a line that keeps climbing fails. Floors, not maxima:
// garbage waiting for a GC or one burst does not decide.

/** Least-squares slope of points [{t, v}] in v per second. */
export function slope(points) {
  const n = points.length;
  if (n < 2) return 0;
  let st = 0,
    sv = 0;
  for (const p of points) {
    st += p.t;
    sv += p.v;
  }
  const mt = st / n,
    mv = sv / n;
  let num = 0,
    den = 0;
  for (const p of points) {
    num += (p.t - mt) * (p.v - mv);
    den += (p.t - mt) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

/** The window's floor: its 25th percentile. Garbage awaiting a GC lifts the peaks; a leak lifts the floor. */
function floor(values) {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor((s.length - 1) * 0.25)];
}

/**
 * @param {{t: number, v: number}[]} points samples of one series
 * @param {{ from: number, to: number, absolute: number, relative: number, minSpanS: number }} o
 *   from/to: the stretch to judge (s); threshold = max(absolute, relative x middle level)
 */
export function flatness(points, o) {
  const inSpan = points.filter((p) => p.t >= o.from && p.t <= o.to && Number.isFinite(p.v));
  const span = o.to - o.from;
  const all = slope(inSpan) * 60;
  if (span < o.minSpanS || inSpan.length < 8)
    return { evaluated: false, why: `only ${span.toFixed(0)} s after the last reset`, slopePerMin: all };
  // middle: the first 40 % of the stretch after its first fifth; late: its last 30 %
  const midFrom = o.from + span * 0.2,
    midTo = o.from + span * 0.6,
    lateFrom = o.to - span * 0.3;
  const mid = inSpan.filter((p) => p.t >= midFrom && p.t <= midTo);
  const late = inSpan.filter((p) => p.t >= lateFrom);
  const levelMid = floor(mid.map((p) => p.v));
  const levelLate = floor(late.map((p) => p.v));
  const growth = levelLate - levelMid;
  const between = (lateFrom + o.to) / 2 - (midFrom + midTo) / 2;
  const betweenSlope = growth / between;
  const lateSlope = slope(late);
  const threshold = Math.max(o.absolute, o.relative * Math.abs(levelMid));
  const fail = growth > threshold && lateSlope >= betweenSlope / 3;
  return {
    evaluated: true,
    from: o.from,
    to: o.to,
    levelMid,
    levelLate,
    growth,
    threshold,
    slopePerMin: all,
    lateSlopePerMin: lateSlope * 60,
    fail,
  };
}
