// Client authentication with JWTs (jose): HS256 with --jwt-secret, or RS256/ES256 with the
// public key in --jwt-public-key. The token comes as ?token= or Authorization: Bearer.
import { createPublicKey, createSecretKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { errors, jwtVerify } from 'jose';
import type { Config } from '../config.js';
import { ConfigError } from '../config.js';
import { parseTopicsClaim, type Permissions } from './permissions.js';

export interface Identity {
  user: string;
  perms: Permissions | null;
  /** expiry in ms since the epoch, when the token has one */
  expiresAt: number | undefined;
}

export type AuthResult = { ok: true; identity: Identity } | { ok: false; reason: 'missing_token' | 'bad_token' | 'expired_token' };

export class Authenticator {
  private constructor(
    private readonly key: KeyObject,
    private readonly algorithms: string[],
  ) {}

  /** The authenticator the config asks for, or null when auth is off. Throws ConfigError on a bad key. */
  static fromConfig(config: Config): Authenticator | null {
    if (config.jwtSecret !== null) return new Authenticator(createSecretKey(Buffer.from(config.jwtSecret)), ['HS256']);
    if (config.jwtPublicKey === null) return null;
    let key: KeyObject;
    try {
      key = createPublicKey(readFileSync(config.jwtPublicKey));
    } catch (err) {
      throw new ConfigError(`cannot load --jwt-public-key ${config.jwtPublicKey}: ${(err as Error).message}`);
    }
    if (key.asymmetricKeyType === 'rsa') return new Authenticator(key, ['RS256']);
    if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') return new Authenticator(key, ['ES256']);
    throw new ConfigError(`--jwt-public-key ${config.jwtPublicKey} must be an RSA (RS256) or P-256 (ES256) public key`);
  }

  /** The token of an upgrade request: ?token= first, then Authorization: Bearer. */
  static tokenOf(query: URLSearchParams, headers: Record<string, string | undefined>): string | undefined {
    const q = query.get('token');
    if (q) return q;
    const auth = headers.authorization;
    if (auth && /^bearer /i.test(auth)) return auth.slice(7).trim() || undefined;
    return undefined;
  }

  async verify(token: string | undefined): Promise<AuthResult> {
    if (token === undefined) return { ok: false, reason: 'missing_token' };
    try {
      const { payload } = await jwtVerify(token, this.key, { algorithms: this.algorithms });
      const perms = parseTopicsClaim(payload.topics);
      if (typeof perms === 'string') return { ok: false, reason: 'bad_token' };
      if (payload.sub !== undefined && typeof payload.sub !== 'string') return { ok: false, reason: 'bad_token' };
      return {
        ok: true,
        identity: { user: payload.sub ?? '', perms, expiresAt: typeof payload.exp === 'number' ? payload.exp * 1000 : undefined },
      };
    } catch (err) {
      return { ok: false, reason: err instanceof errors.JWTExpired ? 'expired_token' : 'bad_token' };
    }
  }
}
