// Medians with their spread across repeated runs.

export function median(values) {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const mid = Math.floor(v.length / 2);
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

/** { median, min, max, spreadPct }: spread is (max - min) / median, in %. */
export function summarize(values) {
  const v = values.filter((x) => Number.isFinite(x));
  const med = median(v);
  if (v.length === 0) return { median: NaN, min: NaN, max: NaN, spreadPct: NaN, n: 0 };
  const min = Math.min(...v);
  const max = Math.max(...v);
  return { median: med, min, max, spreadPct: med ? (100 * (max - min)) / med : 0, n: v.length };
}
