// --demo: the chat page at /demo?room=NAME and the client module it imports, served from the
// compiled SDK (dist/server/client/), the same files `import 'ringcast/client'` loads. Only the
// SDK's own .js files are served, read once and kept.
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { HttpResponse } from '../transport/types.js';
import { demoPage } from './demo-page.js';

const MODULE_RE = /^\/demo\/client\/([a-z0-9-]+\.js)$/;

/** dist/server/client/ next to the compiled server; from sources (tests), the build's copy. */
function clientDir(): string {
  const beside = fileURLToPath(new URL('../client/', import.meta.url));
  if (existsSync(beside + 'index.js')) return beside;
  return fileURLToPath(new URL('../../dist/server/client/', import.meta.url));
}

const cache = new Map<string, Buffer | null>();

function module(name: string): Buffer | null {
  if (!cache.has(name)) {
    const file = clientDir() + name;
    cache.set(name, existsSync(file) ? readFileSync(file) : null);
  }
  return cache.get(name)!;
}

/** The demo's answer for `path`, or undefined when the path is not the demo's. */
export function demoRoute(path: string, method: string, wsPath: string): HttpResponse | undefined {
  if (path !== '/demo' && !path.startsWith('/demo/')) return undefined;
  if (method !== 'GET' && method !== 'HEAD') return undefined;
  if (path === '/demo') {
    return { status: 200, headers: { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' }, body: demoPage(wsPath) };
  }
  const m = MODULE_RE.exec(path);
  const body = m === null ? null : module(m[1]!);
  if (body === null) return undefined;
  return { status: 200, headers: { 'Content-Type': 'text/javascript; charset=utf-8', 'Cache-Control': 'no-cache' }, body };
}
