// The one close-code table (server/client/close-codes.ts): the errors table, the native
// WebSocket layer's constants and the close reasons both transports write agree with it.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { closeAction, closeCodes, closeRules } from '../../server/client/close-codes.js';
import { errors } from '../../server/protocol/errors.js';

const NATIVE = path.resolve(import.meta.dirname, '../../native/src');

function nativeSources(dir = NATIVE): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? nativeSources(path.join(dir, e.name)) : /\.(cc|h)$/.test(e.name) ? [path.join(dir, e.name)] : [],
  );
}

describe('the close-code table', () => {
  it('has each code once, in order, and an action for each', () => {
    const codes = closeRules.map((r) => r.code);
    expect(codes).toEqual([...codes].sort((a, b) => a - b));
    expect(new Set(codes).size).toBe(codes.length);
    for (const r of closeRules) expect(closeAction(r.code)).toBe(r.action);
  });

  it('holds every close code of the errors table', () => {
    const codes = new Set(closeRules.map((r) => r.code));
    for (const [name, e] of Object.entries(errors)) if (e.close !== null) expect(codes.has(e.close), name).toBe(true);
  });

  it('holds every close code native/src/ws/rfc6455.h declares', () => {
    const header = readFileSync(path.join(NATIVE, 'ws/rfc6455.h'), 'utf8');
    const declared = [...header.matchAll(/constexpr uint16_t (kClose\w+) = (\d+);/g)].map((m) => ({ name: m[1], code: Number(m[2]) }));
    expect(declared.length).toBeGreaterThan(5);
    const codes = new Set(closeRules.map((r) => r.code));
    for (const d of declared) expect(codes.has(d.code), d.name).toBe(true);
  });

  it('gives the reason native writes for a slow consumer and a message too big', () => {
    const text = nativeSources()
      .map((f) => readFileSync(f, 'utf8'))
      .join('\n');
    const reasons = (constant: string) => [...text.matchAll(new RegExp(`${constant},\\s*"([^"]*)"`, 'g'))].map((m) => m[1]);
    expect(reasons('kCloseTryAgainLater')).toEqual([closeCodes.slowConsumer.reason]);
    expect(new Set(reasons('kCloseMessageTooBig'))).toEqual(new Set([closeCodes.messageTooBig.reason]));
  });
});
