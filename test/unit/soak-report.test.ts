// The soak's plots are SVG files a browser must render: XML with no attribute written twice in a
// tag (an early version gave the fault labels two font-size attributes, and browsers then drew
// nothing past the first label).
import { describe, expect, it } from 'vitest';
import { timeChart } from '../../loadtest/soak/report.mjs';

/** Every tag whose attribute names repeat. */
function repeatedAttributes(svg: string): string[] {
  const bad: string[] = [];
  for (const tag of svg.match(/<[a-z][^>]*>/g) ?? []) {
    const names = [...tag.matchAll(/\s([a-z-]+)=/g)].map((m) => m[1]);
    if (new Set(names).size !== names.length) bad.push(tag);
  }
  return bad;
}

describe('the soak report plots', () => {
  it('are well-formed: faults marked and labelled, no attribute repeated', () => {
    const points = Array.from({ length: 50 }, (_, i) => ({ t: i, v: 100 + i }));
    const svg: string = timeChart({
      title: 'Memory',
      unit: 'MiB',
      series: [{ label: 'A.rss', points }],
      faults: [
        { kind: 'redis-pause', t0: 10, t1: 15 },
        { kind: 'node-kill', t0: 20, t1: 22 },
      ],
      durationS: 50,
    });
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg).toContain('redis-pause');
    expect(repeatedAttributes(svg)).toEqual([]);
    // every opened element is closed
    const opened = (svg.match(/<(text|svg|g)\b/g) ?? []).length;
    const closed = (svg.match(/<\/(text|svg|g)>/g) ?? []).length;
    expect(closed).toBe(opened);
  });
});
