// One answer per error, whatever the transport: every HTTP error has the same status line,
// Content-Type, WWW-Authenticate and JSON body {"error":C,"msg":M} on ws and on uring, including
// the answers the engine writes by itself (413, 431, 400 for a head it cannot parse or a broken
// handshake, 426) and upgrade refusals (written by TypeScript on both).
import { describe, expect, it } from 'vitest';
import type { Config } from '../../server/config.js';
import { errors } from '../../server/protocol/errors.js';
import { rawHttp } from '../helpers/raw.js';
import { startServer, transports } from '../helpers/server.js';
import type { TransportName } from '../../server/transport/types.js';

const SECRET = 'a-test-secret-of-32-characters!!';
const upgrade = (target = '/ws', extra = '') =>
  `GET ${target} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n${extra}\r\n`;
const post = (body: string, headers = 'Content-Type: application/json\r\n') =>
  `POST /publish HTTP/1.1\r\nHost: x\r\n${headers}Content-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`;
const fields = (n: number) => Array.from({ length: n }, (_, i) => `X-F${i}: ${i}\r\n`).join('');

interface Case {
  name: string;
  code: keyof typeof errors;
  config?: Partial<Config>;
  request: string;
}

const cases: Case[] = [
  {
    name: 'POST /publish without the API key',
    code: 'unauthorized',
    config: { apiKey: 'k3y-for-the-tests' },
    request: post('{"topic":"a","data":1}'),
  },
  {
    name: 'POST /publish without a token under JWT auth',
    code: 'unauthorized',
    config: { jwtSecret: SECRET },
    request: post('{"topic":"a","data":1}'),
  },
  { name: 'POST /publish with a bad topic', code: 'bad_topic', request: post('{"topic":"a b","data":1}') },
  { name: 'POST /publish with text/plain', code: 'unsupported_media_type', request: post('{}', 'Content-Type: text/plain\r\n') },
  { name: 'GET /publish', code: 'method_not_allowed', request: 'GET /publish HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' },
  { name: 'an unknown path', code: 'not_found', request: 'GET /nowhere HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' },
  {
    name: 'a plain GET on the WebSocket path',
    code: 'upgrade_required',
    request: 'GET /ws HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
  },
  {
    name: 'a body past --max-payload',
    code: 'too_large',
    config: { maxPayload: 64 },
    request: post(`{"topic":"a","data":"${'x'.repeat(100)}"}`),
  },
  {
    name: 'more fields than --max-headers',
    code: 'headers_too_large',
    config: { maxHeaders: 8 },
    request: `GET /healthz HTTP/1.1\r\nHost: x\r\n${fields(10)}Connection: close\r\n\r\n`,
  },
  {
    name: 'a head past --max-head-bytes',
    code: 'headers_too_large',
    config: { maxHeadBytes: 1024 },
    request: `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'b'.repeat(2000)}\r\n\r\n`,
  },
  { name: 'a request line that is not HTTP', code: 'bad_request', request: 'HELLO\r\n\r\n' },
  { name: 'an upgrade with Sec-WebSocket-Version: 8', code: 'bad_version', request: upgrade('/ws').replace('Version: 13', 'Version: 8') },
  { name: 'an upgrade without a token under JWT auth', code: 'unauthorized', config: { jwtSecret: SECRET }, request: upgrade() },
  { name: 'an upgrade on another path', code: 'not_found', request: upgrade('/elsewhere') },
  { name: 'an upgrade to a target URL cannot parse', code: 'bad_target', request: upgrade('http://[/ws') },
  { name: 'an upgrade with a bad ?topics= name', code: 'bad_topic', request: upgrade('/ws?topics=%20') },
];

/** What must be equal across transports: status line, the headers that carry meaning, the body. */
async function answer(
  transport: TransportName,
  c: Case,
): Promise<{ statusLine: string; contentType?: string; wwwAuthenticate?: string; body: string }> {
  const srv = await startServer(transport, c.config);
  try {
    const raw = await rawHttp(srv.port, c.request, 1000);
    const end = raw.indexOf('\r\n\r\n');
    const lines = raw.slice(0, end).split('\r\n');
    const header = (name: string) =>
      lines
        .find((l) => l.toLowerCase().startsWith(name + ':'))
        ?.slice(name.length + 1)
        .trim();
    const length = Number(header('content-length') ?? 0);
    return {
      statusLine: lines[0]!,
      contentType: header('content-type'),
      wwwAuthenticate: header('www-authenticate'),
      body: raw.slice(end + 4, end + 4 + length),
    };
  } finally {
    await srv.close();
  }
}

describe.each(transports)('HTTP error answers on the %s transport', (transport) => {
  for (const c of cases) {
    it(`answers ${c.name} with ${errors[c.code].status} and {"error":"${c.code}"} as JSON`, async () => {
      const a = await answer(transport, c);
      expect(a.statusLine).toMatch(new RegExp(`^HTTP/1\\.1 ${errors[c.code].status} [A-Z]`));
      expect(a.contentType).toBe('application/json');
      expect(JSON.parse(a.body)).toMatchObject({ error: c.code, msg: expect.any(String) });
      if (c.code === 'unauthorized') expect(a.wwwAuthenticate).toBe('Bearer');
    });
  }
});

describe.runIf(transports.includes('uring'))('HTTP error answers across transports', () => {
  for (const c of cases) {
    it(`answers ${c.name} with the same bytes on ws and uring`, async () => {
      expect(await answer('uring', c)).toEqual(await answer('ws', c));
    });
  }
});
