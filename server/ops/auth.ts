// Who may see the ops page: the holder of --api-key, or (with JWT auth on) a token whose `admin`
// claim is true. The key comes as `Authorization: Bearer KEY`, never in a URL.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { decodeJwt } from 'jose';
import type { Authenticator } from '../auth/tokens.js';

export class OpsGuard {
  constructor(
    private readonly apiKey: string | null,
    private readonly auth: Authenticator | null,
  ) {}

  async allows(req: IncomingMessage): Promise<boolean> {
    const header = req.headers.authorization;
    if (header === undefined || !/^bearer /i.test(header)) return false;
    const given = header.slice(7).trim();
    if (given === '') return false;
    if (this.apiKey !== null && sameSecret(given, this.apiKey)) return true;
    if (this.auth === null) return false;
    const verified = await this.auth.verify(given);
    // the signature and expiry are checked above; only then is the claim read
    return verified.ok && decodeJwt(given).admin === true;
  }
}

function sameSecret(given: string, key: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(key).digest();
  return timingSafeEqual(a, b); // equal-length digests: no length or prefix leaks through timing
}
