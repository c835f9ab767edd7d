// docs/client.md carries the tables the client runs from: close codes (server/client/close-codes.ts)
// and err codes (server/client/err-codes.ts).
import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { closeTableMarkdown } from '../../server/client/close-codes.js';
import { errTableMarkdown } from '../../server/client/err-codes.js';

const doc = readFileSync(new URL('../../docs/client.md', import.meta.url), 'utf8');

it('docs/client.md shows the close-code table the client runs from', () => {
  expect(doc).toContain(closeTableMarkdown());
});

it('docs/client.md shows the err-code table the client runs from', () => {
  expect(doc).toContain(errTableMarkdown());
});
