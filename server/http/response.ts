// An HTTP/1.1 response as bytes, for the paths that write on a socket themselves: every response
// of the uring transport, and the ws transport's answers at upgrade time and to requests its HTTP
// parser refused (no ServerResponse there). One serializer, so both transports answer alike.
import { STATUS_CODES } from 'node:http';
import type { HttpResponse } from '../transport/types.js';

/**
 * The status line, the response's headers, Content-Length and Connection, then the body.
 * `bodyLength` answers a HEAD: the length the GET body would have, with no body sent.
 */
export function serializeResponse(r: HttpResponse & { bodyLength?: number }, keepAlive: boolean): Buffer {
  const body = typeof r.body === 'string' ? Buffer.from(r.body) : r.body;
  const lines = [`HTTP/1.1 ${r.status} ${STATUS_CODES[r.status] ?? ''}`];
  for (const [k, v] of Object.entries(r.headers)) lines.push(`${k}: ${v}`);
  lines.push(`Content-Length: ${r.bodyLength ?? body.length}`, `Connection: ${keepAlive ? 'keep-alive' : 'close'}`);
  return Buffer.concat([Buffer.from(lines.join('\r\n') + '\r\n\r\n', 'latin1'), body]);
}
