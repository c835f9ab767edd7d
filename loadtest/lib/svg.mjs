// Small SVG charts for the report, with no plotting library: horizontal bar panels (one per
// scenario, each on its own scale, whiskers from min to max over the repeats) and a latency
// percentile chart on a log axis.

const COLORS = { 'ringcast-uring': '#d9480f', 'ringcast-ws': '#f59f00', ws: '#1971c2', bun: '#5f3dc4' };
const FONT = 'font-family="system-ui,sans-serif" font-size="12"';

const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const color = (label) => COLORS[label] ?? '#495057';

/** Short human numbers: 1234567 -> 1.23M, 0.8123 -> 0.812. */
export function fmt(v) {
  if (!Number.isFinite(v)) return 'n/a';
  const a = Math.abs(v);
  if (a >= 1e6) return `${(v / 1e6).toPrecision(3)}M`;
  if (a >= 1e4) return `${(v / 1e3).toPrecision(3)}k`;
  if (a >= 100) return v.toFixed(0);
  return v.toPrecision(3);
}

/**
 * panels: [{ title, bars: [{ label, value, min, max, note }] }]; bars without a value are
 * drawn as a note ("unavailable").
 */
export function barPanels({ title, unit, panels }) {
  const width = 720,
    labelW = 130,
    valueW = 150,
    barMax = width - labelW - valueW - 20;
  const rowH = 20,
    panelGap = 14;
  let y = 36;
  const parts = [`<text x="10" y="22" font-weight="bold" ${FONT}>${esc(title)} (${esc(unit)})</text>`];
  for (const panel of panels) {
    parts.push(`<text x="10" y="${y + 12}" font-weight="bold" ${FONT}>${esc(panel.title)}</text>`);
    y += 18;
    const top = Math.max(...panel.bars.map((b) => (Number.isFinite(b.max) ? b.max : b.value)).filter(Number.isFinite), 0);
    for (const bar of panel.bars) {
      const scale = (v) => (top > 0 ? (v / top) * barMax : 0);
      parts.push(`<text x="${labelW - 6}" y="${y + 14}" text-anchor="end" ${FONT}>${esc(bar.label)}</text>`);
      if (Number.isFinite(bar.value)) {
        const w = Math.max(1, scale(bar.value));
        parts.push(`<rect x="${labelW}" y="${y + 3}" width="${w.toFixed(1)}" height="${rowH - 6}" fill="${color(bar.label)}"/>`);
        if (Number.isFinite(bar.min) && Number.isFinite(bar.max) && bar.max > bar.min) {
          const x1 = labelW + scale(bar.min),
            x2 = labelW + scale(bar.max),
            cy = y + rowH / 2;
          parts.push(
            `<path d="M${x1.toFixed(1)} ${cy}H${x2.toFixed(1)}M${x1.toFixed(1)} ${cy - 4}v8M${x2.toFixed(1)} ${cy - 4}v8" stroke="#212529" fill="none"/>`,
          );
        }
        parts.push(
          `<text x="${labelW + barMax + 8}" y="${y + 14}" ${FONT}>${esc(fmt(bar.value))}${bar.note ? ` ${esc(bar.note)}` : ''}</text>`,
        );
      } else {
        parts.push(`<text x="${labelW + 4}" y="${y + 14}" fill="#868e96" ${FONT}>${esc(bar.note ?? 'n/a')}</text>`);
      }
      y += rowH;
    }
    y += panelGap;
  }
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${y}" viewBox="0 0 ${width} ${y}">` +
    `<rect width="100%" height="100%" fill="white"/>${parts.join('')}</svg>\n`
  );
}

/** series: [{ label, points: [{ x: 'p50', y: microseconds }] }], y on a log10 axis. */
export function latencyChart({ title, series }) {
  const width = 720,
    height = 320,
    left = 70,
    right = 150,
    top = 36,
    bottom = 40;
  const xs = series[0]?.points.map((p) => p.x) ?? [];
  const found = series.flatMap((s) => s.points.map((p) => p.y)).filter((v) => v > 0);
  const ys = found.length ? found : [1, 1000];
  const lo = Math.floor(Math.log10(Math.min(...ys)));
  const hi = Math.max(lo + 1, Math.ceil(Math.log10(Math.max(...ys))));
  const px = (i) => left + (i * (width - left - right)) / Math.max(1, xs.length - 1);
  const py = (v) => top + (height - top - bottom) * (1 - (Math.log10(Math.max(v, 10 ** lo)) - lo) / (hi - lo));
  const parts = [`<text x="10" y="22" font-weight="bold" ${FONT}>${esc(title)}</text>`];
  for (let e = lo; e <= hi; e++) {
    const label = e >= 3 ? `${10 ** (e - 3)} ms` : `${10 ** e} us`;
    parts.push(`<path d="M${left} ${py(10 ** e).toFixed(1)}H${width - right}" stroke="#dee2e6"/>`);
    parts.push(`<text x="${left - 6}" y="${(py(10 ** e) + 4).toFixed(1)}" text-anchor="end" ${FONT}>${label}</text>`);
  }
  xs.forEach((x, i) => parts.push(`<text x="${px(i)}" y="${height - bottom + 18}" text-anchor="middle" ${FONT}>${esc(x)}</text>`));
  series.forEach((s, k) => {
    const pts = s.points.map((p, i) => `${px(i).toFixed(1)},${py(p.y).toFixed(1)}`).join(' ');
    parts.push(`<polyline points="${pts}" fill="none" stroke="${color(s.label)}" stroke-width="2"/>`);
    s.points.forEach((p, i) => parts.push(`<circle cx="${px(i).toFixed(1)}" cy="${py(p.y).toFixed(1)}" r="3" fill="${color(s.label)}"/>`));
    parts.push(`<text x="${width - right + 12}" y="${top + 16 + k * 18}" fill="${color(s.label)}" ${FONT}>${esc(s.label)}</text>`);
  });
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">` +
    `<rect width="100%" height="100%" fill="white"/>${parts.join('')}</svg>\n`
  );
}
