// The WebSocket the client runs on: the browser's (globalThis.WebSocket), or in Node 20, which
// has none, the `ws` package loaded on first use. The specifier is held in a variable so that a
// browser bundler does not try to resolve `ws`; a browser never reaches that line.

/** The part of the WHATWG WebSocket API the client uses (the `ws` package implements it too). */
export interface SocketLike {
  readonly readyState: number;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: { message?: string }) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  /** `ws` only: drop the TCP connection without a closing handshake */
  terminate?(): void;
}

export type SocketFactory = new (url: string) => SocketLike;

let loaded: Promise<SocketFactory> | undefined;

export function socketFactory(): Promise<SocketFactory> {
  const native = (globalThis as { WebSocket?: SocketFactory }).WebSocket;
  if (native !== undefined) return Promise.resolve(native);
  const specifier = 'ws';
  loaded ??= import(specifier).then((m: { default?: SocketFactory; WebSocket?: SocketFactory }) => (m.WebSocket ?? m.default)!);
  return loaded;
}
