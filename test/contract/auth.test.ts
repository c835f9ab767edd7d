// Auth (JWT via jose), topic permissions, origins, rate limits, API key and head limits, on every
// transport, with real tokens signed here.
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import type { Config } from '../../server/config.js';
import { Client, sleep } from '../helpers/client.js';
import { rawHttp } from '../helpers/raw.js';
import { serverFixture, transports } from '../helpers/server.js';

const SECRET = 'a-test-secret-of-32-characters!!';
const secretKey = new TextEncoder().encode(SECRET);

async function hs256(
  claims: Record<string, unknown>,
  opts: { exp?: string | number; key?: Uint8Array; alg?: string } = {},
): Promise<string> {
  const jwt = new SignJWT(claims).setProtectedHeader({ alg: opts.alg ?? 'HS256' }).setIssuedAt();
  if (opts.exp !== undefined) jwt.setExpirationTime(opts.exp);
  return jwt.sign(opts.key ?? secretKey);
}

function publicKeyFile(type: 'rsa' | 'ec'): { file: string; privateKey: import('node:crypto').KeyObject } {
  const pair =
    type === 'rsa' ? generateKeyPairSync('rsa', { modulusLength: 2048 }) : generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const file = join(mkdtempSync(join(tmpdir(), 'ringcast-key-')), 'public.pem');
  writeFileSync(file, pair.publicKey.export({ type: 'spki', format: 'pem' }));
  return { file, privateKey: pair.privateKey };
}

describe.each(transports)('auth and abuse limits on the %s transport', (transport) => {
  const f = serverFixture(transport);
  const start = (overrides: Partial<Config>) => f.start(overrides);
  const open = (query: string, headers: Record<string, string> = {}) => f.open(query, { headers });
  const refused = (query: string, headers: Record<string, string> = {}) => Client.open(f.srv.url + query, { headers });

  describe('JWT with --jwt-secret (HS256)', () => {
    it('accepts a valid token in ?token= and in Authorization: Bearer, and shows its sub in presence', async () => {
      await start({ jwtSecret: SECRET });
      const a = await open(`?token=${await hs256({ sub: 'alice' })}`);
      const b = await open('', { Authorization: `Bearer ${await hs256({ sub: 'bob' })}` });
      await a.request({ op: 'sub', topic: 'room', id: 1 });
      await b.request({ op: 'sub', topic: 'room', id: 1 });
      const ack = await a.request({ op: 'presence', topic: 'room', id: 2 });
      expect((ack.clients as { user: string }[]).map((c) => c.user).sort()).toEqual(['alice', 'bob']);
    });

    it.each([
      ['no token', async () => ''],
      ['a malformed token', async () => '?token=not.a.jwt'],
      [
        'a token signed with another secret',
        async () => `?token=${await hs256({ sub: 'x' }, { key: new TextEncoder().encode('another-secret-of-32-characters!') })}`,
      ],
      ['an expired token', async () => `?token=${await hs256({ sub: 'x' }, { exp: Math.floor(Date.now() / 1000) - 60 })}`],
      ['a token with another algorithm', async () => `?token=${await hs256({ sub: 'x' }, { alg: 'HS512' })}`],
      ['a token with a malformed topics claim', async () => `?token=${await hs256({ sub: 'x', topics: { sub: 'all' } })}`],
    ])('answers the upgrade with 401 for %s', async (_name, query) => {
      await start({ jwtSecret: SECRET });
      await expect(refused(await query())).rejects.toThrow('HTTP 401');
    });

    it('counts auth failures by reason in /metrics', async () => {
      await start({ jwtSecret: SECRET });
      await expect(refused('')).rejects.toThrow('HTTP 401');
      await expect(refused('?token=junk')).rejects.toThrow('HTTP 401');
      const text = await (await fetch(`${f.srv.http}/metrics`)).text();
      expect(text).toContain('ringcast_auth_failures_total{reason="missing_token"} 1');
      expect(text).toContain('ringcast_auth_failures_total{reason="bad_token"} 1');
      expect(text).toContain('ringcast_upgrades_rejected_total{reason="unauthorized"} 2');
    });

    it('closes a connection with 4001 when its token expires', async () => {
      await start({ jwtSecret: SECRET });
      const c = await open(`?token=${await hs256({ sub: 'x' }, { exp: Math.floor(Date.now() / 1000) + 2 })}`);
      expect(await c.request({ op: 'sub', topic: 't', id: 1 })).toMatchObject({ op: 'ack' });
      const closed = await c.closed;
      expect(closed.code).toBe(4001);
    });
  });

  describe('the topics claim', () => {
    const claims = { sub: 'carol', topics: { sub: ['room.*', 'lobby'], pub: ['lobby'] } };

    it('allows exact names and prefix* patterns, and answers anything else with forbidden', async () => {
      await start({ jwtSecret: SECRET });
      const c = await open(`?token=${await hs256(claims)}`);
      expect(await c.request({ op: 'sub', topic: 'room.42', id: 1 })).toMatchObject({ op: 'ack' });
      expect(await c.request({ op: 'sub', topic: 'lobby', id: 2 })).toMatchObject({ op: 'ack' });
      expect(await c.request({ op: 'sub', topic: 'admin', id: 3 })).toMatchObject({ op: 'err', code: 'forbidden', id: 3 });
      expect(await c.request({ op: 'sub', topic: 'room', id: 4 })).toMatchObject({ code: 'forbidden' }); // "room.*" needs the dot
      expect(await c.request({ op: 'pub', topic: 'room.42', data: 1, id: 5 })).toMatchObject({ code: 'forbidden' });
      expect(await c.request({ op: 'history', topic: 'admin', id: 6 })).toMatchObject({ code: 'forbidden' });
      expect(await c.request({ op: 'presence', topic: 'admin', id: 7 })).toMatchObject({ code: 'forbidden' });
      c.send({ op: 'pub', topic: 'lobby', data: 'hi', id: 8 });
      expect(await c.next()).toMatchObject({ op: 'msg', topic: 'lobby' });
      expect(await c.next()).toMatchObject({ op: 'ack', id: 8 });
    });

    it('refuses ?topics= outside the claim with 403', async () => {
      await start({ jwtSecret: SECRET });
      const token = await hs256(claims);
      await expect(refused(`?topics=room.1,admin&token=${token}`)).rejects.toThrow('HTTP 403');
      await open(`?topics=room.1,lobby&token=${token}`);
    });

    it('allows no publishing when the claim lists only sub', async () => {
      await start({ jwtSecret: SECRET });
      const c = await open(`?token=${await hs256({ sub: 'd', topics: { sub: ['*'] } })}`);
      expect(await c.request({ op: 'sub', topic: 'any', id: 1 })).toMatchObject({ op: 'ack' });
      expect(await c.request({ op: 'pub', topic: 'any', data: 1, id: 2 })).toMatchObject({ code: 'forbidden' });
    });
  });

  describe.each(['rsa', 'ec'] as const)('JWT with --jwt-public-key (%s)', (type) => {
    it('accepts tokens signed by the private key and refuses others', async () => {
      const { file, privateKey } = publicKeyFile(type);
      const other = publicKeyFile(type);
      await start({ jwtPublicKey: file });
      const alg = type === 'rsa' ? 'RS256' : 'ES256';
      const good = await new SignJWT({ sub: 'erin' }).setProtectedHeader({ alg }).sign(privateKey);
      const bad = await new SignJWT({ sub: 'erin' }).setProtectedHeader({ alg }).sign(other.privateKey);
      await open(`?token=${good}`);
      await expect(refused(`?token=${bad}`)).rejects.toThrow('HTTP 401');
      await expect(refused(`?token=${await hs256({ sub: 'x' })}`)).rejects.toThrow('HTTP 401');
    });
  });

  describe('--api-key', () => {
    const publish = (headers: Record<string, string>) =>
      fetch(`${f.srv.http}/publish`, {
        method: 'POST',
        body: '{"topic":"k","data":1}',
        headers: { 'content-type': 'application/json', ...headers },
      });

    it('guards POST /publish: 401 without or with a wrong key, 200 with Bearer or X-Api-Key', async () => {
      await start({ apiKey: 'k3y-for-the-tests' });
      expect((await publish({})).status).toBe(401);
      expect((await publish({ authorization: 'Bearer wrong-key-value' })).status).toBe(401);
      expect((await publish({ 'x-api-key': 'k3y-for-the-test' })).status).toBe(401);
      expect((await publish({ authorization: 'Bearer k3y-for-the-tests' })).status).toBe(200);
      expect((await publish({ 'x-api-key': 'k3y-for-the-tests' })).status).toBe(200);
    });
  });

  describe('POST /publish with JWT auth on', () => {
    const publish = (topic: string, headers: Record<string, string>) =>
      fetch(`${f.srv.http}/publish`, {
        method: 'POST',
        body: JSON.stringify({ topic, data: 1 }),
        headers: { 'content-type': 'application/json', ...headers },
      });

    it('answers 401 with WWW-Authenticate: Bearer without credentials or with a bad token, when no --api-key is set', async () => {
      await start({ jwtSecret: SECRET });
      for (const headers of [
        {} as Record<string, string>,
        { authorization: 'Bearer not.a.token' },
        { authorization: `Bearer ${await hs256({ sub: 'u' }, { key: new TextEncoder().encode('another-secret-of-32-characters!') })}` },
      ]) {
        const res = await publish('room.1', headers);
        expect(res.status).toBe(401);
        expect(res.headers.get('www-authenticate')).toBe('Bearer');
        expect(await res.json()).toMatchObject({ error: 'unauthorized' });
      }
    });

    it('accepts a bearer token whose pub claim allows the topic, and answers 403 forbidden for another topic', async () => {
      await start({ jwtSecret: SECRET });
      const token = await hs256({ sub: 'u', topics: { pub: ['room.*'] } });
      const sub = await open('?topics=room.1', { authorization: `Bearer ${await hs256({ sub: 'reader' })}` });
      expect((await publish('room.1', { authorization: `Bearer ${token}` })).status).toBe(200);
      expect(await sub.next()).toMatchObject({ op: 'msg', topic: 'room.1', seq: 1 });
      const denied = await publish('lobby', { authorization: `Bearer ${token}` });
      expect(denied.status).toBe(403);
      expect(await denied.json()).toMatchObject({ error: 'forbidden' });
      expect((await publish('anything', { authorization: `Bearer ${await hs256({ sub: 'u' })}` })).status).toBe(200);
    });

    it('accepts the API key for every topic, and a token too, when both are configured', async () => {
      await start({ jwtSecret: SECRET, apiKey: 'k3y-for-the-tests' });
      expect((await publish('x', { 'x-api-key': 'k3y-for-the-tests' })).status).toBe(200);
      expect((await publish('x', { authorization: 'Bearer k3y-for-the-tests' })).status).toBe(200);
      expect((await publish('x', { authorization: `Bearer ${await hs256({ sub: 'u', topics: { pub: ['x'] } })}` })).status).toBe(200);
      expect((await publish('x', {})).status).toBe(401);
    });
  });

  describe('--allowed-origins', () => {
    it('accepts listed origins and clients without Origin, and answers others with 403', async () => {
      await start({ allowedOrigins: 'https://chat.example.com, http://localhost:3000' });
      await open('', { Origin: 'https://chat.example.com' });
      await open('', { Origin: 'http://LOCALHOST:3000' });
      await open('');
      await expect(refused('', { Origin: 'https://evil.example.com' })).rejects.toThrow('HTTP 403');
      await expect(refused('', { Origin: 'https://chat.example.com.evil.com' })).rejects.toThrow('HTTP 403');
    });
  });

  describe('--rate-limit', () => {
    it('answers messages past the rate with rate_limited and serves again after a pause', async () => {
      await start({ rateLimit: 5 });
      const c = await open('');
      for (let i = 0; i < 8; i++) c.send({ op: 'sub', topic: 't', id: i });
      const replies = [];
      for (let i = 0; i < 8; i++) replies.push(await c.next());
      expect(replies.filter((r) => r.op === 'ack').length).toBeGreaterThanOrEqual(5);
      const limited = replies.filter((r) => r.op === 'err' && r.code === 'rate_limited');
      expect(limited.length).toBeGreaterThanOrEqual(1);
      // each refusal names the request it dropped: every id is answered once, ack or err
      expect(limited.every((r) => typeof r.id === 'number')).toBe(true);
      expect(replies.map((r) => r.id).sort()).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
      await sleep(1100);
      expect(await c.request({ op: 'sub', topic: 't', id: 99 })).toMatchObject({ op: 'ack' });
    });

    it('closes a connection that keeps flooding with 1008', async () => {
      await start({ rateLimit: 5 });
      const c = await open('');
      for (let i = 0; i < 50; i++) c.send({ op: 'sub', topic: 't', id: i });
      expect((await c.closed).code).toBe(1008);
      const text = await (await fetch(`${f.srv.http}/metrics`)).text();
      expect(text).toContain('ringcast_rate_limit_closes_total 1');
      expect(text).toMatch(/ringcast_rate_limited_total \d+/);
    });

    it('limits bytes per second with --rate-limit-bytes', async () => {
      await start({ rateLimitBytes: 1000 });
      const c = await open('');
      const big = { op: 'sub', topic: 't', id: 1, pad: 'x'.repeat(600) };
      c.send(big);
      c.send(big);
      c.send(big);
      const codes = [(await c.next()).op, (await c.next()).op, (await c.next()).op];
      expect(codes).toContain('err');
    });
  });

  describe('request head limits', () => {
    const upgrade = (extra: string) =>
      `GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n${extra}\r\n`;

    it('answers more header fields than --max-headers with 431', async () => {
      await start({ maxHeaders: 8 });
      const extra = Array.from({ length: 5 }, (_, i) => `X-Filler-${i}: ${i}\r\n`).join('');
      expect(await rawHttp(f.srv.port, upgrade(extra))).toMatch(/^HTTP\/1\.1 431/);
      expect(await rawHttp(f.srv.port, upgrade(''))).toMatch(/^HTTP\/1\.1 101/);
    });

    it('answers a head larger than --max-head-bytes with 431', async () => {
      await start({ maxHeadBytes: 1024 });
      expect(await rawHttp(f.srv.port, upgrade(`X-Big: ${'b'.repeat(2000)}\r\n`))).toMatch(/^HTTP\/1\.1 431/);
    });
  });
});
