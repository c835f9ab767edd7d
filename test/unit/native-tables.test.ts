// The lists that cross the native boundary are declared once in C++; these check that what is
// made from them (the /metrics docs, the batch layout TypeScript reads) agrees.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadAddon } from '../../server/transport/native.js';

const { addon } = loadAddon();

describe.skipIf(addon === undefined)('the native tables', () => {
  it('every stats row has a unique key and metric, and is in docs/metrics.md', () => {
    const table = addon!.RingServer.statsTable;
    const docs = readFileSync(new URL('../../docs/metrics.md', import.meta.url), 'utf8');
    expect(new Set(table.map((r) => r.key)).size).toBe(table.length);
    expect(new Set(table.map((r) => r.metric)).size).toBe(table.length);
    for (const row of table) {
      expect(row.kind === 'counter' ? row.metric.endsWith('_total') : !row.metric.endsWith('_total'), row.metric).toBe(true);
      expect(docs, row.metric).toContain(`\`${row.metric}\``);
    }
  });
});
