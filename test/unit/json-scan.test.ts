import { describe, expect, it } from 'vitest';
import { MAX_DEPTH, scanObject } from '../../server/protocol/json-scan.js';

const scan = (s: string) => scanObject(Buffer.from(s));
const span = (s: string, key: string) => {
  const r = scan(s);
  if (!r.ok) throw new Error(r.error);
  const m = r.members.get(key)!;
  return s.slice(m.start, m.end); // ASCII inputs: byte offsets are string offsets
};

describe('scanObject', () => {
  it('finds each member value span, verbatim', () => {
    const doc = '{ "op" : "pub", "data" : [1, {"a": 2e10}, "x\\"y"] , "n":-0.0 }';
    expect(span(doc, 'data')).toBe('[1, {"a": 2e10}, "x\\"y"]');
    expect(span(doc, 'op')).toBe('"pub"');
    expect(span(doc, 'n')).toBe('-0.0');
  });

  it('reports the kind of every member', () => {
    const r = scan('{"a":{},"b":[],"c":"","d":1,"e":true,"f":false,"g":null}');
    expect(r.ok && [...r.members.values()].map((m) => m.kind)).toEqual(['object', 'array', 'string', 'number', 'true', 'false', 'null']);
  });

  it.each([
    ['', 'empty input'],
    ['[]', 'an array'],
    ['"s"', 'a string'],
    ['{', 'an open object'],
    ['{"a"}', 'a member without value'],
    ['{"a":1,}', 'a trailing comma'],
    ['{"a":01}', 'a leading zero'],
    ['{"a":1.}', 'a bare fraction point'],
    ['{"a":.5}', 'a bare fraction'],
    ['{"a":+1}', 'a plus sign'],
    ['{"a":1e}', 'an empty exponent'],
    ['{"a":"\\x"}', 'a bad escape'],
    ['{"a":"\\u12g4"}', 'a bad unicode escape'],
    ['{"a":"\t"}', 'a raw tab in a string'],
    ['{"a":tru}', 'a truncated literal'],
    ['{"a":NaN}', 'NaN'],
    ['{"a":[1 2]}', 'missing comma'],
    ['{"a":1}}', 'an extra brace'],
    ['{a:1}', 'an unquoted key'],
    ["{'a':1}", 'single quotes'],
    ['{"a":1} x', 'trailing text'],
  ])('rejects %j (%s)', (text) => {
    expect(scan(text).ok).toBe(false);
  });

  it('rejects a duplicated member name as a duplicate', () => {
    expect(scan('{"a":1,"a":2}')).toMatchObject({ ok: false, duplicate: true });
  });

  it('rejects nesting deeper than MAX_DEPTH without recursing', () => {
    const deep = (n: number) => `{"d":${'['.repeat(n)}${']'.repeat(n)}}`;
    expect(scan(deep(MAX_DEPTH)).ok).toBe(true);
    expect(scan(deep(MAX_DEPTH + 1)).ok).toBe(false);
    expect(scan(deep(100_000)).ok).toBe(false);
  });

  it('agrees with JSON.parse on 5,000 generated and mutated documents', () => {
    let seed = 42;
    const rnd = (n: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const value = (depth: number): string => {
      switch (rnd(depth > 3 ? 5 : 7)) {
        case 0:
          return String(rnd(2) ? -rnd(1e6) / 7 : rnd(1e9));
        case 1:
          return JSON.stringify('s' + rnd(100) + ['é', '\n', '"', '\\', '😀', ''][rnd(6)]);
        case 2:
          return ['true', 'false', 'null'][rnd(3)]!;
        case 3:
          return `${rnd(2) ? '1e' + rnd(30) : '0.5'}`;
        case 4:
          return '""';
        case 5:
          return `[${Array.from({ length: rnd(4) }, () => value(depth + 1)).join(',')}]`;
        default:
          return `{${Array.from({ length: rnd(4) }, (_, i) => `"k${i}":${value(depth + 1)}`).join(',')}}`;
      }
    };
    const alphabet = '{}[]",:\\ 0123456789.eE+-tfnulrsa';
    for (let i = 0; i < 5000; i++) {
      let doc = `{"op":"pub","data":${value(0)}}`;
      if (i % 2) {
        const at = rnd(doc.length);
        doc = doc.slice(0, at) + alphabet[rnd(alphabet.length)] + doc.slice(at + (rnd(2) ? 1 : 0));
      }
      let expected: boolean;
      try {
        const v = JSON.parse(doc) as unknown;
        expected = v !== null && typeof v === 'object' && !Array.isArray(v);
        // JSON.parse accepts duplicate member names; the scanner refuses them by design
        const r = scan(doc);
        if (!r.ok && r.duplicate) continue;
      } catch {
        expected = false;
      }
      expect(scan(doc).ok, doc).toBe(expected);
    }
  });
});
