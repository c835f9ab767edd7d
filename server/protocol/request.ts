// Client -> server requests of protocol v1, parsed from the bytes of one text message.
// `data` is never decoded: the request carries its byte span so the hub can copy it verbatim.
import { decodeString, scanObject, type JsonMember } from './json-scan.js';
import { isValidTopic } from './topic.js';
import type { ErrorCode } from './errors.js';

export type Request =
  | { op: 'sub'; id: Id; topic: string; since: number | undefined; epoch: string | undefined; presence: boolean }
  | { op: 'unsub'; id: Id; topic: string }
  | { op: 'pub'; id: Id; topic: string; data: Uint8Array; echo: boolean; key: string | undefined }
  | { op: 'ping'; id: Id }
  | { op: 'history'; id: Id; topic: string; since: number; limit: number }
  | { op: 'presence'; id: Id; topic: string };

/** The request id, kept as its JSON text so the ack echoes exactly what the client sent. */
export type Id = string | undefined;

export interface RequestError {
  code: ErrorCode;
  msg: string;
  id: Id;
}

export type Parsed = { ok: true; req: Request } | { ok: false; err: RequestError };

const OPS = new Set(['sub', 'unsub', 'pub', 'history', 'presence', 'ping']);

/** An idempotency key: 1..200 bytes of printable ASCII (like a topic name), compared exactly. */
export const isValidKey = (key: string): boolean => isValidTopic(key);

/** The idempotency key member of a pub or a POST /publish body: absent, valid, or an error message. */
function keyOf(b: Uint8Array, m: Map<string, JsonMember>): { ok: true; key: string | undefined } | { ok: false; msg: string } {
  const member = m.get('key');
  if (member === undefined) return { ok: true, key: undefined };
  const key = member.kind === 'string' ? decodeString(b, member) : undefined;
  if (key === undefined || !isValidKey(key))
    return { ok: false, msg: '"key" must be a string of 1..200 bytes of printable ASCII without spaces' };
  return { ok: true, key };
}

function fail(code: ErrorCode, msg: string, id: Id): Parsed {
  return { ok: false, err: { code, msg, id } };
}

function text(b: Uint8Array, m: JsonMember): string {
  return Buffer.from(b.buffer, b.byteOffset + m.start, m.end - m.start).toString('latin1');
}

/** A non-negative integer within double precision, or undefined when the member is not one. */
function seqNumber(b: Uint8Array, m: JsonMember): number | undefined {
  if (m.kind !== 'number') return undefined;
  const t = text(b, m);
  if (!/^(0|[1-9][0-9]{0,15})$/.test(t)) return undefined;
  const n = Number(t);
  return Number.isSafeInteger(n) ? n : undefined;
}

export function parseRequest(b: Uint8Array): Parsed {
  const scan = scanObject(b);
  if (!scan.ok) return fail(scan.duplicate ? 'bad_request' : 'bad_json', scan.error, undefined);
  const m = scan.members;

  let id: Id;
  const idMember = m.get('id');
  if (idMember !== undefined) {
    if (idMember.kind !== 'number' && idMember.kind !== 'string') {
      return fail('bad_request', '"id" must be a number or a string', undefined);
    }
    id = text(b, idMember);
  }

  const opMember = m.get('op');
  if (opMember === undefined || opMember.kind !== 'string') return fail('bad_request', '"op" must be a string', id);
  const op = decodeString(b, opMember);
  if (!OPS.has(op)) return fail('bad_request', `unknown op "${op.slice(0, 32)}"`, id);
  // a client-level heartbeat (browsers cannot see WebSocket pings): no topic, answered by an ack
  if (op === 'ping') return { ok: true, req: { op, id } };

  const topicMember = m.get('topic');
  if (topicMember === undefined || topicMember.kind !== 'string') return fail('bad_request', '"topic" must be a string', id);
  const topic = decodeString(b, topicMember);
  if (!isValidTopic(topic)) return fail('bad_topic', 'topic must be 1..200 bytes of printable ASCII without spaces', id);

  switch (op) {
    case 'sub': {
      const sinceMember = m.get('since');
      let since: number | undefined;
      if (sinceMember !== undefined) {
        since = seqNumber(b, sinceMember);
        if (since === undefined) return fail('bad_request', '"since" must be a non-negative integer', id);
      }
      const epochMember = m.get('epoch');
      let epoch: string | undefined;
      if (epochMember !== undefined) {
        if (epochMember.kind !== 'string') return fail('bad_request', '"epoch" must be a string', id);
        epoch = decodeString(b, epochMember);
      }
      const presenceMember = m.get('presence');
      if (presenceMember !== undefined && presenceMember.kind !== 'true' && presenceMember.kind !== 'false')
        return fail('bad_request', '"presence" must be a boolean', id);
      return { ok: true, req: { op, id, topic, since, epoch, presence: presenceMember?.kind === 'true' } };
    }
    case 'unsub':
    case 'presence':
      return { ok: true, req: { op, id, topic } };
    case 'history': {
      const sinceMember = m.get('since');
      let since = 0;
      if (sinceMember !== undefined) {
        const s = seqNumber(b, sinceMember);
        if (s === undefined) return fail('bad_request', '"since" must be a non-negative integer', id);
        since = s;
      }
      const limitMember = m.get('limit');
      let limit = Number.MAX_SAFE_INTEGER;
      if (limitMember !== undefined) {
        const l = seqNumber(b, limitMember);
        if (l === undefined || l === 0) return fail('bad_request', '"limit" must be a positive integer', id);
        limit = l;
      }
      return { ok: true, req: { op, id, topic, since, limit } };
    }
    default: {
      const dataMember = m.get('data');
      if (dataMember === undefined) return fail('bad_request', '"data" is required', id);
      const echoMember = m.get('echo');
      let echo = true;
      if (echoMember !== undefined) {
        if (echoMember.kind !== 'true' && echoMember.kind !== 'false') return fail('bad_request', '"echo" must be a boolean', id);
        echo = echoMember.kind === 'true';
      }
      const key = keyOf(b, m);
      if (!key.ok) return fail('bad_request', key.msg, id);
      const data = b.subarray(dataMember.start, dataMember.end);
      return { ok: true, req: { op: 'pub', id, topic, data, echo, key: key.key } };
    }
  }
}

/** Body of HTTP POST /publish: {"topic":T,"data":ANY} (optional "key", as the Idempotency-Key header). */
export function parsePublishBody(
  b: Uint8Array,
): { ok: true; topic: string; data: Uint8Array; key: string | undefined } | { ok: false; code: ErrorCode; msg: string } {
  const scan = scanObject(b);
  if (!scan.ok) return { ok: false, code: scan.duplicate ? 'bad_request' : 'bad_json', msg: scan.error };
  const topicMember = scan.members.get('topic');
  if (topicMember === undefined || topicMember.kind !== 'string')
    return { ok: false, code: 'bad_request', msg: '"topic" must be a string' };
  const topic = decodeString(b, topicMember);
  if (!isValidTopic(topic)) return { ok: false, code: 'bad_topic', msg: 'topic must be 1..200 bytes of printable ASCII without spaces' };
  const dataMember = scan.members.get('data');
  if (dataMember === undefined) return { ok: false, code: 'bad_request', msg: '"data" is required' };
  const key = keyOf(b, scan.members);
  if (!key.ok) return { ok: false, code: 'bad_request', msg: key.msg };
  return { ok: true, topic, data: b.subarray(dataMember.start, dataMember.end), key: key.key };
}
