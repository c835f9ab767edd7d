// docs/client.md carries the close-code table made from server/client/close-codes.ts.
import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { closeTableMarkdown } from '../../server/client/close-codes.js';

it('docs/client.md shows the close-code table the client runs from', () => {
  expect(readFileSync(new URL('../../docs/client.md', import.meta.url), 'utf8')).toContain(closeTableMarkdown());
});
