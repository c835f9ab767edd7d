// The opening-handshake checks of RFC 6455 section 4.2.1, shared by every transport that
// parses handshakes in TypeScript. A failed check answers 400, except a version other than
// 13, which answers 426 with the version the server speaks (section 4.2.2).

export interface HandshakeFailure {
  status: number;
  headers: Record<string, string>;
  body: string;
  reason: string;
}

const KEY_RE = /^[A-Za-z0-9+/]{21}[AQgw]==$/; // base64 of exactly 16 bytes

function hasToken(value: string | undefined, token: string): boolean {
  if (value === undefined) return false;
  return value.split(',').some((t) => t.trim().toLowerCase() === token);
}

function fail(status: number, body: string, reason: string, headers: Record<string, string> = {}): HandshakeFailure {
  return { status, headers, body, reason };
}

export function checkHandshake(
  method: string,
  httpVersion: string,
  headers: Record<string, string | string[] | undefined>,
): HandshakeFailure | null {
  const h = (name: string) => {
    const v = headers[name];
    return Array.isArray(v) ? v.join(', ') : v;
  };
  if (method !== 'GET') return fail(400, 'WebSocket upgrade must use GET', 'bad_handshake');
  const [major, minor] = httpVersion.split('.').map(Number);
  if (!(major! > 1 || (major === 1 && minor! >= 1))) return fail(400, 'WebSocket upgrade needs HTTP/1.1', 'bad_handshake');
  if (!h('host')) return fail(400, 'missing Host header', 'bad_handshake');
  if (!hasToken(h('upgrade'), 'websocket')) return fail(400, 'Upgrade header must name websocket', 'bad_handshake');
  if (!hasToken(h('connection'), 'upgrade')) return fail(400, 'Connection header must include Upgrade', 'bad_handshake');
  const key = h('sec-websocket-key');
  if (key === undefined || !KEY_RE.test(key.trim())) {
    return fail(400, 'Sec-WebSocket-Key must be the base64 of 16 bytes', 'bad_handshake');
  }
  if (h('sec-websocket-version')?.trim() !== '13') {
    return fail(426, 'Sec-WebSocket-Version must be 13', 'bad_version', { 'Sec-WebSocket-Version': '13' });
  }
  return null;
}
