// Which transport runs: `uring` when the native engine loads and passes its loopback self-test,
// else `ws`. The reason for a fallback is one line that says what failed and what would fix it.
import { loadAddon } from './native.js';

export interface UringProbe {
  ok: boolean;
  reason: string;
  features: string;
}

let cached: UringProbe | undefined;

export function probeUring(): UringProbe {
  if (cached) return cached;
  const { addon, reason } = loadAddon();
  if (!addon) return (cached = { ok: false, reason: reason!, features: '' });
  const p = addon.probe();
  return (cached = { ok: p.ok, reason: p.ok ? '' : p.line, features: p.features });
}

/** Takes a verdict made elsewhere (the main thread, for its worker threads): no self-test here. */
export function primeProbe(probe: UringProbe): void {
  cached = probe;
}
