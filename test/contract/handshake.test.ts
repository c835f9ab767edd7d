// The opening handshake (RFC 6455 section 4.2.1/4.2.2) and upgrade policy, on every transport.
import { DEFLATE_RESPONSE } from '../../server/protocol/deflate.js';
import { connect } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Client } from '../helpers/client.js';
import { rawHttp, readHead } from '../helpers/raw.js';
import { startServer, transports, type TestServer } from '../helpers/server.js';

const SAMPLE_KEY = 'dGhlIHNhbXBsZSBub25jZQ=='; // RFC 6455 section 1.3
const SAMPLE_ACCEPT = 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=';

function upgradeRequest(overrides: Record<string, string | null> = {}, requestLine = 'GET /ws HTTP/1.1'): string {
  const headers: Record<string, string | null> = {
    Host: '127.0.0.1',
    Upgrade: 'websocket',
    Connection: 'Upgrade',
    'Sec-WebSocket-Key': SAMPLE_KEY,
    'Sec-WebSocket-Version': '13',
    ...overrides,
  };
  const lines = Object.entries(headers)
    .filter(([, v]) => v !== null)
    .map(([k, v]) => `${k}: ${v}`);
  return `${requestLine}\r\n${lines.join('\r\n')}\r\n\r\n`;
}

const status = (response: string) => Number(response.slice(9, 12));

describe.each(transports)('opening handshake on the %s transport', (transport) => {
  let srv: TestServer;
  beforeEach(async () => {
    srv = await startServer(transport);
  });
  afterEach(async () => {
    await srv.close();
  });

  it("answers 101 with the Sec-WebSocket-Accept of RFC 6455's sample key", async () => {
    const socket = connect(srv.port, '127.0.0.1').on('error', () => undefined);
    socket.write(upgradeRequest());
    const head = await readHead(socket);
    socket.destroy();
    expect(head).toMatch(/^HTTP\/1\.1 101 /);
    expect(head.toLowerCase()).toContain('upgrade: websocket');
    expect(head.toLowerCase()).toMatch(/connection: upgrade/);
    expect(head).toMatch(new RegExp(`sec-websocket-accept: ${SAMPLE_ACCEPT.replace(/\+/g, '\\+')}`, 'i'));
  });

  it('accepts header tokens in any case and Connection as a token list', async () => {
    const socket = connect(srv.port, '127.0.0.1').on('error', () => undefined);
    socket.write(upgradeRequest({ Upgrade: 'WebSocket', Connection: 'keep-alive, Upgrade' }));
    const head = await readHead(socket);
    socket.destroy();
    expect(status(head)).toBe(101);
  });

  it('answers a permessage-deflate offer with its one answer and no subprotocol unasked', async () => {
    // the whole negotiation table, and --permessage-deflate off, are in deflate.test.ts
    const socket = connect(srv.port, '127.0.0.1').on('error', () => undefined);
    socket.write(upgradeRequest({ 'Sec-WebSocket-Extensions': 'permessage-deflate; client_max_window_bits' }));
    const head = await readHead(socket);
    socket.destroy();
    expect(status(head)).toBe(101);
    expect(head).toContain(`\r\nSec-WebSocket-Extensions: ${DEFLATE_RESPONSE}\r\n`);
    expect(head.toLowerCase()).not.toContain('sec-websocket-protocol');
  });

  it.each([
    ['a missing Host', { Host: null }, 400],
    ['an Upgrade that is not websocket', { Upgrade: 'h2c' }, 400],
    ['a missing Sec-WebSocket-Key', { 'Sec-WebSocket-Key': null }, 400],
    ['a key that is not 16 bytes', { 'Sec-WebSocket-Key': 'c2hvcnQ=' }, 400],
    ['a key that is not base64', { 'Sec-WebSocket-Key': '!!!!!!!!!!!!!!!!!!!!!!==' }, 400],
    ['version 8', { 'Sec-WebSocket-Version': '8' }, 426],
    ['a missing version', { 'Sec-WebSocket-Version': null }, 426],
  ])('refuses %s', async (_name, headers, code) => {
    const response = await rawHttp(srv.port, upgradeRequest(headers as Record<string, string | null>));
    expect(status(response)).toBe(code);
    if (code === 426) expect(response).toMatch(/sec-websocket-version: 13/i);
  });

  it('refuses an upgrade without Connection: Upgrade with 400', async () => {
    const response = await rawHttp(srv.port, upgradeRequest({ Connection: 'keep-alive' }));
    expect(status(response)).toBe(400);
  });

  it('refuses a POST upgrade with 400', async () => {
    const response = await rawHttp(srv.port, upgradeRequest({}, 'POST /ws HTTP/1.1'));
    expect(status(response)).toBe(400);
  });

  it('refuses an HTTP/1.0 upgrade', async () => {
    const response = await rawHttp(srv.port, upgradeRequest({}, 'GET /ws HTTP/1.0'));
    expect(status(response)).toBeGreaterThanOrEqual(400);
  });

  it('upgrades a connection that first served keep-alive HTTP requests', async () => {
    const socket = connect(srv.port, '127.0.0.1').on('error', () => undefined);
    await new Promise((r) => socket.once('connect', r));
    const responses: string[] = [];
    let acc = '';
    socket.on('data', (d: Buffer) => {
      acc += d.toString('latin1');
    });
    socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
    socket.write('POST /publish HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 22\r\n\r\n{"topic":"k","data":1}');
    await new Promise((r) => setTimeout(r, 200));
    responses.push(...acc.split(/(?=HTTP\/1\.1 )/));
    expect(responses.map((r) => r.slice(0, 12))).toEqual(['HTTP/1.1 200', 'HTTP/1.1 200']);
    acc = '';
    socket.write(upgradeRequest({}, 'GET /ws?topics=k HTTP/1.1'));
    await new Promise((r) => setTimeout(r, 200));
    expect(acc).toMatch(/^HTTP\/1\.1 101 /);
    expect(acc).toMatch(new RegExp(`sec-websocket-accept: ${SAMPLE_ACCEPT.replace(/\+/g, '\\+')}`, 'i'));
    socket.destroy();
  });

  it('answers 404 for an upgrade on another path', async () => {
    await expect(Client.open(`ws://127.0.0.1:${srv.port}/elsewhere`)).rejects.toThrow('HTTP 404');
  });

  it('answers 426 for a plain GET on the WebSocket path', async () => {
    const res = await fetch(`${srv.http}/ws`);
    expect(res.status).toBe(426);
    expect(res.headers.get('upgrade')).toBe('websocket');
  });

  it('answers 400 for a bad topic in ?topics=', async () => {
    await expect(Client.open(srv.url + '?topics=ok,bad%20topic')).rejects.toThrow('HTTP 400');
    await expect(Client.open(srv.url + `?topics=${'x'.repeat(201)}`)).rejects.toThrow('HTTP 400');
  });

  it('counts refused upgrades by reason in /metrics', async () => {
    await expect(Client.open(`ws://127.0.0.1:${srv.port}/elsewhere`)).rejects.toThrow();
    await rawHttp(srv.port, upgradeRequest({ 'Sec-WebSocket-Version': '8' }));
    const text = await (await fetch(`${srv.http}/metrics`)).text();
    expect(text).toContain('ringcast_upgrades_rejected_total{reason="not_found"} 1');
    expect(text).toContain('ringcast_upgrades_rejected_total{reason="bad_version"} 1');
  });
});
