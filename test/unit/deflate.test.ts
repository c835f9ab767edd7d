// server/protocol/deflate.ts: the compressed twin of a frame and the bounded inflation.
import { randomBytes } from 'node:crypto';
import { constants, deflateRawSync, inflateRawSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { acceptsDeflate, compressFrame, inflateMessage } from '../../server/protocol/deflate.js';
import { textFrame } from '../../server/protocol/frame-writer.js';

const TAIL = Buffer.from([0, 0, 0xff, 0xff]);

describe('compressFrame', () => {
  const json = JSON.stringify(Array.from({ length: 200 }, (_, i) => ({ user: `u${i % 5}`, text: 'see you at the standup' })));
  const { frame, payloadOffset } = textFrame([json]);

  it('sets RSV1 on a text frame and drops the 00 00 ff ff tail (RFC 7692 7.2.1)', () => {
    const z = compressFrame(frame, payloadOffset, { threshold: 0, level: 3 })!;
    expect(z[0]).toBe(0xc1);
    const len = z[1] === 126 ? z.readUInt16BE(2) : z[1]!;
    const payload = z.subarray(z[1] === 126 ? 4 : 2);
    expect(payload.length).toBe(len);
    expect(payload.subarray(-4).equals(TAIL)).toBe(false);
    expect(inflateRawSync(Buffer.concat([payload, TAIL]), { finishFlush: constants.Z_SYNC_FLUSH }).toString()).toBe(json);
  });

  it('leaves payloads below the threshold, and payloads that would not shrink, uncompressed', () => {
    expect(compressFrame(frame, payloadOffset, { threshold: json.length + 1, level: 3 })).toBeUndefined();
    const random = textFrame([randomBytes(2000)]);
    expect(compressFrame(random.frame, random.payloadOffset, { threshold: 0, level: 9 })).toBeUndefined();
  });
});

describe('inflateMessage', () => {
  const z = (b: Buffer) => deflateRawSync(b, { finishFlush: constants.Z_SYNC_FLUSH }).subarray(0, -4);

  it('inflates to the message', () => {
    expect(inflateMessage(z(Buffer.from('{"op":"ping"}')), false, 1024)).toMatchObject({ ok: true, data: Buffer.from('{"op":"ping"}') });
  });

  it('stops at --max-payload: 1009, also for exactly one byte over', () => {
    expect(inflateMessage(z(Buffer.alloc(1025, 0x20)), false, 1024)).toMatchObject({ ok: false, code: 1009 });
    expect(inflateMessage(z(Buffer.alloc(1024, 0x20)), false, 1024)).toMatchObject({ ok: true });
    expect(inflateMessage(z(Buffer.alloc(256 * 1024 * 1024)), true, 1024 * 1024)).toMatchObject({ ok: false, code: 1009 });
  });

  it('answers corrupt data and inflated text that is not UTF-8 with 1007; binary is not checked', () => {
    expect(inflateMessage(Buffer.from('ffffffff001234', 'hex'), false, 1024)).toMatchObject({ ok: false, code: 1007 });
    expect(inflateMessage(z(Buffer.from([0xff, 0xfe])), false, 1024)).toMatchObject({ ok: false, code: 1007 });
    expect(inflateMessage(z(Buffer.from([0xff, 0xfe])), true, 1024)).toMatchObject({ ok: true });
  });
});

describe('acceptsDeflate', () => {
  it('is case-insensitive on the name and declines a missing header', () => {
    expect(acceptsDeflate('Permessage-Deflate')).toBe(true);
    expect(acceptsDeflate(undefined)).toBe(false);
    expect(acceptsDeflate('')).toBe(false);
  });
});
