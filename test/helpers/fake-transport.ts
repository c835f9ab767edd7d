// A recording Transport for the hub's unit suite (test/unit/hub*.test.ts): what the real ones
// (ws, uring) are to the hub, minus the sockets. Every frame the hub queues to a connection, by
// send or fanout, is kept per connection id, decoded; every close is kept. A frame aimed at a
// connection the transport already reported gone is kept apart (`strays`): the hub must never
// produce one, and a test can say so.
import { constants, inflateRawSync } from 'node:zlib';
import type { Transport } from '../../server/transport/types.js';

/** One server -> client frame as a client reads it (the JSON of docs/protocol.md). */
export interface Frame {
  op: string;
  id?: number | string;
  topic?: string;
  seq?: number;
  epoch?: string | null;
  recovered?: boolean;
  data?: unknown;
  code?: string;
  msg?: string;
  subscribers?: number;
  duplicate?: boolean;
  messages?: { seq: number; data: unknown }[];
  more?: boolean;
  client?: string;
  user?: string;
  count?: number;
  clients?: { client: string; user: string }[];
  truncated?: boolean;
  dropped?: number;
  /** the frame had RSV1 set: permessage-deflate compressed (not part of the JSON) */
  compressed?: boolean;
}

/** Decodes one complete unmasked server frame (RFC 6455 5.2); a compressed one is inflated (RFC 7692 7.2.2). */
export function decodeFrame(frame: Buffer): Frame {
  const b1 = frame[1]! & 0x7f;
  let offset = 2;
  let length = b1;
  if (b1 === 126) {
    length = frame.readUInt16BE(2);
    offset = 4;
  } else if (b1 === 127) {
    length = Number(frame.readBigUInt64BE(2));
    offset = 10;
  }
  if ((frame[0]! & 0x0f) !== 0x1) throw new Error(`not a text frame: first byte ${frame[0]!.toString(16)}`);
  if (offset + length !== frame.length) throw new Error(`frame length ${frame.length} does not match its header (${offset} + ${length})`);
  let payload = frame.subarray(offset);
  const compressed = (frame[0]! & 0x40) !== 0;
  if (compressed)
    payload = inflateRawSync(Buffer.concat([payload, Buffer.from([0x00, 0x00, 0xff, 0xff])]), {
      finishFlush: constants.Z_SYNC_FLUSH,
    });
  const parsed = JSON.parse(payload.toString('utf8')) as Frame;
  if (compressed) parsed.compressed = true;
  return parsed;
}

export class FakeTransport implements Transport {
  readonly name = 'ws' as const;
  readonly features = {};
  onSocketClosed: (() => void) | undefined;
  /** every frame queued to each open connection, in order */
  private readonly queued = new Map<number, Buffer[]>();
  /** connections that negotiated permessage-deflate: fanout gives them the compressed twin */
  private readonly deflating = new Set<number>();
  /** connections whose next sends are refused, as past --max-outbound */
  private readonly full = new Set<number>();
  /** close frames the hub asked for, by connection */
  readonly closes = new Map<number, { code: number; reason: string }>();
  /** frames aimed at connections already reported gone (hub.close was called) */
  readonly strays: { id: number; frame: Frame }[] = [];
  /** fanout calls, with the ids and exclude they were given */
  readonly fanouts: { ids: number[]; exclude: number }[] = [];

  /** The transport accepted a connection (before the hub's open). */
  connected(id: number, deflate = false): void {
    this.queued.set(id, []);
    if (deflate) this.deflating.add(id);
  }

  /** The connection is gone (before the hub's close): anything sent to it now is a stray. */
  disconnected(id: number): void {
    this.queued.delete(id);
    this.deflating.delete(id);
    this.full.delete(id);
  }

  /** Refuse every further send to `id` (the hub must then treat it as closing). */
  fill(id: number): void {
    this.full.add(id);
  }

  /** The frames queued to `id` so far, decoded. */
  frames(id: number): Frame[] {
    return (this.queued.get(id) ?? []).map(decodeFrame);
  }

  /** The raw frames queued to `id` so far. */
  raw(id: number): Buffer[] {
    return this.queued.get(id) ?? [];
  }

  send(id: number, frame: Buffer): boolean {
    const q = this.queued.get(id);
    if (q === undefined) {
      this.strays.push({ id, frame: decodeFrame(frame) });
      return false;
    }
    if (this.full.has(id) || this.closes.has(id)) return false;
    q.push(frame);
    return true;
  }

  fanout(ids: Uint32Array, frame: Buffer, exclude: number, compressed?: Buffer): number {
    this.fanouts.push({ ids: [...ids], exclude });
    let n = 0;
    for (const id of ids) {
      if (id === exclude) continue;
      const q = this.queued.get(id);
      if (q === undefined) {
        this.strays.push({ id, frame: decodeFrame(frame) });
        continue;
      }
      if (this.full.has(id) || this.closes.has(id)) continue;
      q.push(this.deflating.has(id) && compressed !== undefined ? compressed : frame);
      n++;
    }
    return n;
  }

  close(id: number, code: number, reason: string): void {
    if (!this.closes.has(id)) this.closes.set(id, { code, reason });
  }

  connectionCount(): number {
    return this.queued.size;
  }

  listen(): Promise<{ host: string; port: number }> {
    throw new Error('the fake transport does not listen');
  }

  adopt(): boolean {
    return false;
  }

  async stopAccepting(): Promise<void> {}

  async closeAll(): Promise<void> {}
}
