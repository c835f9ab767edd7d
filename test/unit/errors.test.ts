// The error table is written once (server/protocol/errors.ts); docs/protocol.md carries the
// table made from it, and every HTTP error answer is built from it.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { errors, errorTableMarkdown, httpError } from '../../server/protocol/errors.js';

describe('the error table', () => {
  it('is the table docs/protocol.md shows (regenerate it with errorTableMarkdown())', () => {
    const doc = readFileSync(new URL('../../docs/protocol.md', import.meta.url), 'utf8');
    expect(doc).toContain(errorTableMarkdown());
  });

  it('answers 401 with WWW-Authenticate: Bearer and every HTTP error with a JSON body', () => {
    expect(httpError('unauthorized').headers['WWW-Authenticate']).toBe('Bearer');
    for (const [code, spec] of Object.entries(errors)) {
      if (spec.status === null) continue;
      const res = httpError(code as keyof typeof errors, 'm');
      expect(res.status).toBe(spec.status);
      expect(JSON.parse(res.body)).toEqual({ error: code, msg: 'm' });
    }
  });
});
