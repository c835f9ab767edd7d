// The request-target of an HTTP request (RFC 7230 5.3) as a URL, or null when it does not
// parse. Both HTTP parsers accept targets that WHATWG URL refuses (`http://[/ws`, `//[/ws`,
// `http://a:99999/ws`): those are a 400, never an exception.
const BASE = 'http://localhost';

export function parseTarget(target: string): URL | null {
  try {
    return new URL(target, BASE);
  } catch {
    return null;
  }
}
