// Which transport runs: `uring` when the native engine loads and passes its probe, else `ws`.
// The reason for a fallback is one line that says what failed and what would fix it.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export interface UringProbe {
  ok: boolean;
  reason: string;
}

const ADDON = fileURLToPath(new URL('../../../native/build/Release/ringcast.node', import.meta.url));

/** Probes the io_uring engine. The engine binding lands with the uring transport issue. */
export function probeUring(): UringProbe {
  if (!existsSync(ADDON)) {
    return {
      ok: false,
      reason: `io_uring engine not available: native addon ${ADDON} is not built; the ws transport can serve (--transport ws or auto)`,
    };
  }
  return { ok: false, reason: 'io_uring engine binding is not wired into this version' };
}
